// The dashboard in headless Chromium: load it, see the servers, press Drain on
// one, see its state become "draining", save a screenshot.
//
//   NODE_PATH=.ci/node/node_modules node drain.mjs URL SERVER SCREENSHOT
//
// Run by `dashboard_drains_a_server_in_chromium` in ../admin.rs. Exit 0 on
// success; any failure, page error or console error exits 1 with the reason.
// playwright-core is loaded with require() because ES module imports ignore
// NODE_PATH, which is where .ci/install puts it.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [url, server, screenshot] = process.argv.slice(2);
if (!url || !server || !screenshot) {
  console.error("usage: node drain.mjs URL SERVER SCREENSHOT");
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
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 720 } });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  // Nothing but the admin listener may be asked for anything.
  const origin = new URL(url).origin;
  page.on("request", (r) => { if (!r.url().startsWith(origin)) problems.push("external request: " + r.url()); });
  page.setDefaultTimeout(10_000);

  await page.goto(url);
  const row = page.locator(`tr[data-server="${server}"]`);
  await row.waitFor();
  const rows = await page.locator("#servers tbody tr").count();
  console.log(`dashboard shows ${rows} servers`);
  if (rows < 2) throw new Error(`expected at least 2 servers, saw ${rows}`);
  const state = row.locator("td.state");
  await page.waitForFunction((el) => el.textContent === "active", await state.elementHandle());

  await row.locator('button[data-action="drain"]').click();
  await page.waitForFunction((el) => el.textContent === "draining", await state.elementHandle());
  console.log(`${server} is draining`);
  // The page refreshes by itself: wait for a poll after the click, and the drain countdown.
  await page.waitForFunction((el) => /ends in|safe to remove/.test(el.textContent),
    await row.locator("td.drain").elementHandle());
  if (await row.locator('button[data-action="drain"]').isEnabled()) {
    throw new Error("Drain is still enabled on a draining server");
  }
  // The token came from the address and is no longer in it.
  if (page.url().includes("token=")) throw new Error("the token stayed in the address bar");

  // Live numbers: the test sends traffic while the page is open.
  await page.waitForFunction(() => document.getElementById("c-rate").textContent !== "0.00");
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
  if (problems.length) throw new Error(problems.join("\n"));
} catch (e) {
  console.error(String(e && e.stack || e));
  if (problems.length) console.error(problems.join("\n"));
  await browser.close();
  process.exit(1);
}
await browser.close();
