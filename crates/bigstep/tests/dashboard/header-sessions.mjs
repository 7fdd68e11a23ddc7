// The session-header detector (`bigstep up --session-header X-Session`) seen
// from headless Chromium: a single-page app logs in (`POST /login` answers a
// token in X-Session) and sends the token back on nine `GET /me` (fetch, the
// way SPAs carry a bearer token); then the dashboard must show what happened —
// with EXPECT=loss, "Session lost (header X-Session)" rows whose counts add up
// to the 401s the page saw; with EXPECT=none, the "None seen yet" line and no
// rows.
//
//   NODE_PATH=.ci/node/node_modules node header-sessions.mjs SITE_URL DASHBOARD_URL EXPECT SCREENSHOT
//
// Run by the `*_in_chromium` tests in ../up_detect.rs. Prints
// `page: N requests, K refused` and `dashboard: …`; exits 0 on success, 1 with
// the reason otherwise.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [site, dashboard, expect, screenshot] = process.argv.slice(2);
if (!site || !dashboard || !["loss", "none"].includes(expect) || !screenshot) {
  console.error("usage: node header-sessions.mjs SITE_URL DASHBOARD_URL loss|none SCREENSHOT");
  process.exit(2);
}
const TITLE = "Session lost (header X-Session)";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  timeout: 30_000,
});
const problems = [];
const watch = (page, who, origin) => {
  page.on("pageerror", (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    // A refused /me is what the in-memory app does: Chromium logs it as an error.
    if (m.type() === "error" && !/status of 401/.test(m.text())) {
      problems.push(`${who}: console error: ${m.text()}`);
    }
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(origin)) problems.push(`${who}: external request: ${r.url()}`);
  });
  page.setDefaultTimeout(20_000);
};
try {
  const app = await browser.newPage({ viewport: { width: 900, height: 600 } });
  watch(app, "app", new URL(site).origin);
  await app.goto(site);
  const status = app.locator("#status[data-done]");
  await status.waitFor();
  const refused = Number(await status.getAttribute("data-refused"));
  const sent = Number(await status.getAttribute("data-sent"));
  console.log(`page: ${sent} requests, ${refused} refused`);
  if (expect === "none" && refused !== 0) throw new Error(`the fixed app refused ${refused} requests`);
  if (expect === "loss" && refused === 0) throw new Error("the in-memory app refused nothing");

  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  watch(page, "dashboard", new URL(dashboard).origin);
  await page.goto(dashboard);
  await page.locator("#findings").waitFor({ state: "visible" });
  if (expect === "loss") {
    // The panel refreshes every second; the findings were final when the page finished.
    await page.waitForFunction(([title, want]) => {
      const rows = [...document.querySelectorAll('#finding-table tbody tr[data-kind="session-loss"]')]
        .filter((tr) => tr.cells[0].textContent === title);
      const sum = rows.reduce((n, tr) => n + Number(tr.cells[3].textContent), 0);
      return sum === want && document.getElementById("no-findings").hidden;
    }, [TITLE, refused]);
    const paths = await page.locator("#finding-table tbody tr td:nth-child(3)").allTextContents();
    if (paths.some((p) => p !== "/me")) throw new Error(`findings on other paths: ${paths}`);
    const fix = await page.locator("#finding-table tbody tr td:nth-child(5)").first().textContent();
    console.log(`dashboard: ${TITLE} ×${refused} on ${paths.length} servers; ${fix}`);
  } else {
    await page.locator("#no-findings").waitFor({ state: "visible" });
    const rows = await page.locator("#finding-table tbody tr").count();
    if (rows !== 0) throw new Error(`${rows} findings shown for the fixed app`);
    console.log("dashboard: none seen");
  }
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
