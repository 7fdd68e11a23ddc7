// A page through the front door with compression on, in headless Chromium:
// its HTML, CSS and JavaScript must arrive encoded (gzip or br) and the page
// must render (the script writes into the page, the stylesheet colours it).
//
//   NODE_PATH=.ci/node/node_modules node compressed.mjs URL SCREENSHOT
//
// Run by `a_page_arrives_compressed_and_renders_in_chromium` in ../routes.rs.
// Prints one JSON line {path: content-encoding}; exit 1 with the reason on failure.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node compressed.mjs URL SCREENSHOT");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  timeout: 30_000,
});
const problems = [];
const encodings = {};
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 400 } });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("response", (r) => {
    const path = new URL(r.url()).pathname;
    encodings[path] = r.headers()["content-encoding"] || "none";
  });
  page.setDefaultTimeout(10_000);
  await page.goto(url);
  await page.locator("#out").filter({ hasText: "rendered by app.js" }).waitFor();
  const colour = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (colour !== "rgb(10, 20, 30)") problems.push("the stylesheet did not apply: " + colour);
  await page.screenshot({ path: screenshot });
} catch (e) {
  problems.push(e.message);
} finally {
  await browser.close();
}
console.log(JSON.stringify(encodings));
for (const p of ["/", "/style.css", "/app.js"]) {
  if (!["gzip", "br"].includes(encodings[p])) problems.push(`${p} arrived with content-encoding ${encodings[p]}`);
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
