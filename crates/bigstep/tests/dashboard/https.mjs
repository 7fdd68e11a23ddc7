// A page over HTTPS through the front door in headless Chromium, trusting the
// test certificate by its public key (as `--ignore-certificate-errors-spki-list`
// does for a pinned key) and resolving the site's name to loopback. The page
// must load over HTTP/2 with a secure connection.
//
//   NODE_PATH=.ci/node/node_modules node https.mjs URL SCREENSHOT SPKI_SHA256_BASE64 HOST
//
// Run by `chromium_loads_a_page_over_https_and_http2` in ../edge.rs.
// Prints one JSON line; exit 1 with the reason on failure.
import { launchHttps } from "./chromium-https.mjs";

const [url, screenshot, spki, host] = process.argv.slice(2);
if (!url || !screenshot || !spki || !host) {
  console.error("usage: node https.mjs URL SCREENSHOT SPKI HOST");
  process.exit(2);
}
const browser = await launchHttps(spki, host);
const problems = [];
let result = {};
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 300 } });
  page.setDefaultTimeout(10_000);
  const resp = await page.goto(url);
  const security = await resp.securityDetails();
  result = await page.evaluate(() => ({
    protocol: location.protocol,
    nextHop: performance.getEntriesByType("navigation")[0].nextHopProtocol,
    text: document.body.innerText.slice(0, 200),
  }));
  result.status = resp.status();
  result.tls = security ? security.protocol : null;
  if (result.status !== 200) problems.push("status " + result.status);
  if (result.protocol !== "https:") problems.push("not https: " + result.protocol);
  if (result.nextHop !== "h2") problems.push("not HTTP/2: " + result.nextHop);
  if (!result.text.includes("backend")) problems.push("unexpected page: " + result.text);
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
