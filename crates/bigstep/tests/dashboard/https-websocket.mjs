// A page over HTTPS/HTTP/2 through the front door in headless Chromium that
// opens a WebSocket (`wss://`) to its own origin, sends a message and waits for
// the echo. Chromium opens the WebSocket on the page's HTTP/2 connection when
// the server offers RFC 8441 extended CONNECT, else on a new HTTP/1.1 one: the
// test tells them apart by the front door's metrics, not here.
//
//   NODE_PATH=.ci/node/node_modules node https-websocket.mjs URL WS_URL SCREENSHOT SPKI_SHA256_BASE64 HOST
//
// Run by `chromium_opens_a_websocket_over_http2` in ../edge.rs.
// Prints one JSON line; exit 1 with the reason on failure.
import { launchHttps } from "./chromium-https.mjs";

const [url, wsUrl, screenshot, spki, host] = process.argv.slice(2);
if (!url || !wsUrl || !screenshot || !spki || !host) {
  console.error("usage: node https-websocket.mjs URL WS_URL SCREENSHOT SPKI HOST");
  process.exit(2);
}
const browser = await launchHttps(spki, host);
const problems = [];
let result = {};
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 300 } });
  page.setDefaultTimeout(10_000);
  const resp = await page.goto(url);
  result.status = resp.status();
  result.nextHop = await page.evaluate(
    () => performance.getEntriesByType("navigation")[0].nextHopProtocol,
  );
  result.echo = await page.evaluate((u) => new Promise((resolve, reject) => {
    const ws = new WebSocket(u);
    const timer = setTimeout(() => reject(new Error("no echo within 8 s")), 8000);
    ws.onopen = () => ws.send("hello through the front door");
    ws.onmessage = (e) => {
      clearTimeout(timer);
      document.body.innerText = "echo: " + e.data;
      ws.close();
      resolve(e.data);
    };
    ws.onerror = () => reject(new Error("WebSocket error"));
  }), wsUrl);
  if (result.status !== 200) problems.push("status " + result.status);
  if (result.nextHop !== "h2") problems.push("page not over HTTP/2: " + result.nextHop);
  if (result.echo !== "hello through the front door") problems.push("echo: " + result.echo);
  await page.screenshot({ path: screenshot });
} catch (e) {
  problems.push(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
