// The dashboard of `bigstep up` in headless Chromium: the instances panel and
// its buttons. Press "Add instance" and see app-3 running and in the servers
// table; press Drain on app-1's server; press Stop on app-2 and see it stopped;
// see the single-host findings panel; save a screenshot.
//
//   NODE_PATH=.ci/node/node_modules node instances.mjs URL SCREENSHOT
//
// Run by `dashboard_adds_drains_and_stops_instances_in_chromium` in ../up_ctl.rs.
// Exit 0 on success; any failure, page error or console error exits 1.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node instances.mjs URL SCREENSHOT");
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
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  const origin = new URL(url).origin;
  page.on("request", (r) => { if (!r.url().startsWith(origin)) problems.push("external request: " + r.url()); });
  page.setDefaultTimeout(20_000);

  await page.goto(url);
  const instances = page.locator("#instances");
  await instances.waitFor({ state: "visible" });
  const process_ = (id) => page.locator(`#instance-table tr[data-instance="${id}"] td span.badge`);
  const waitProcess = async (id, want) => {
    await page.waitForFunction(([id, want]) => {
      const el = document.querySelector(`#instance-table tr[data-instance="${id}"] td span.badge`);
      return el && el.textContent === want;
    }, [id, want]);
  };
  await waitProcess("app-1", "running");
  await waitProcess("app-2", "running");
  console.log("instances panel shows app-1 and app-2 running");

  await page.locator("#add-instance").click();
  await waitProcess("app-3", "running");
  await page.locator('#servers tr[data-server="app-3"]').waitFor();
  console.log("Add instance: app-3 running and in the servers table");

  const state = page.locator('#servers tr[data-server="app-1"] td.state');
  await page.locator('#servers tr[data-server="app-1"] button[data-action="drain"]').click();
  await page.waitForFunction((el) => el.textContent === "draining", await state.elementHandle());
  console.log("Drain: app-1 is draining");

  await page.locator('#instance-table tr[data-instance="app-2"] button[data-action="stop"]').click();
  await waitProcess("app-2", "stopped");
  console.log("Stop: app-2 is stopped");
  if (await process_("app-2").count() !== 1) throw new Error("app-2 row missing");

  await page.locator("#findings").waitFor({ state: "visible" });
  console.log("findings panel visible");
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
