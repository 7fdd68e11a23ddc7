// The dashboard's history charts in headless Chromium, while a client loads
// pages through the front door: the requests/s chart has a line per server
// whose latest value and axis are real numbers above zero (and agree with the
// servers table), the p99 chart too; save a screenshot.
//
//   NODE_PATH=.ci/node/node_modules node charts.mjs URL SCREENSHOT app-1,app-2,app-3
//
// (Only the named servers take the traffic: under `up` the files server has a
// line of its own, flat.)
//
// Run by `dashboard_charts_draw_the_traffic_in_chromium` in ../up_ctl.rs.
// Exit 0 on success; any failure, page error or console error exits 1.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [url, screenshot, servers] = process.argv.slice(2);
if (!url || !screenshot || !servers) {
  console.error("usage: node charts.mjs URL SCREENSHOT SERVER,SERVER,...");
  process.exit(2);
}
const want = servers.split(",");

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
  page.setDefaultTimeout(30_000);
  await page.goto(url);

  // Wait for five samples in which every server's line took traffic.
  await page.waitForFunction((want) => {
    const lines = [...document.querySelectorAll('#history .chart[data-metric="rate"] polyline')]
      .filter((l) => want.includes(l.dataset.server));
    return lines.length === want.length && lines.every((l) =>
      Number(l.dataset.last) > 0 && l.getAttribute("points").split(" ").length >= 5);
  }, want);

  const seen = await page.evaluate((want) => {
    const chart = (m) => document.querySelector(`#history .chart[data-metric="${m}"]`);
    const read = (m) => {
      const c = chart(m);
      const svg = c.querySelector("svg");
      const lines = [...svg.querySelectorAll("polyline")].filter((l) => want.includes(l.dataset.server)).map((l) => ({
        server: l.dataset.server,
        last: Number(l.dataset.last),
        ys: l.getAttribute("points").split(" ").map((p) => Number(p.split(",")[1])),
      }));
      return { max: Number(svg.dataset.max), axis: Number(svg.querySelector("text.ymax").textContent), lines };
    };
    const table = {};
    for (const tr of document.querySelectorAll("#servers tbody tr")) {
      table[tr.dataset.server] = tr.querySelector("td.rate").textContent;
    }
    return { rate: read("rate"), p99: read("p99"), errors: read("errors"), table };
  }, want);
  console.log(JSON.stringify(seen.rate.lines.map((l) => [l.server, l.last])));
  const check = (ok, what) => { if (!ok) throw new Error(what + ": " + JSON.stringify(seen)); };
  for (const name of ["rate", "p99"]) {
    const c = seen[name];
    check(c.max > 0 && c.axis >= c.max, `${name}: the axis covers the data`);
    for (const l of c.lines) {
      check(l.ys.every((y) => y >= 0 && y <= 120), `${name}: ${l.server} inside the chart`);
      check(l.ys.some((y) => y < 104), `${name}: ${l.server} drawn above the baseline`);
    }
  }
  // The chart's last value is the one the servers table shows for that poll.
  // (Read in one synchronous evaluate: both come from the same poll.)
  const fmtRate = (r) => r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
  for (const l of seen.rate.lines) {
    check(seen.table[l.server] === fmtRate(l.last), `rate: ${l.server} matches the servers table`);
  }
  // The demo answers no errors: flat at zero.
  check(seen.errors.max === 0, "errors: none drawn for an app without errors");
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);

  // A page opened late starts with the past minutes the front door kept
  // (/api/history): its lines are longer than its own few polls could draw.
  // Wait (on the condition, not a clock) until the front door has kept more
  // samples than the late page's first polls could draw by themselves.
  for (let tries = 0; ; tries++) {
    const kept = await (await fetch(new URL("api/history", url))).json();
    if (kept.samples.length >= 6) break;
    if (tries > 60) throw new Error("the front door kept no history: " + JSON.stringify(kept).slice(0, 200));
    await new Promise((r) => setTimeout(r, 500));
  }
  const late = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  late.on("pageerror", (e) => problems.push("late page error: " + e.message));
  await late.goto(url);
  await late.waitForFunction((want) =>
    [...document.querySelectorAll('#history .chart[data-metric="rate"] polyline')]
      .filter((l) => want.includes(l.dataset.server)).length === want.length, want);
  const early = await late.evaluate((want) => ({
    polls: Number(document.body.dataset.polls),
    history: Number(document.body.dataset.history),
    points: [...document.querySelectorAll('#history .chart[data-metric="rate"] polyline')]
      .filter((l) => want.includes(l.dataset.server))
      .map((l) => l.getAttribute("points").split(" ").length),
  }), want);
  console.log("opened late: " + JSON.stringify(early));
  if (!(early.history >= 5 && early.polls < 5 && early.points.every((n) => n >= 5))) {
    throw new Error("a page opened late does not draw the front door's history: " + JSON.stringify(early));
  }
  if (problems.length) throw new Error(problems.join("\n"));
} catch (e) {
  console.error(String(e && e.stack || e));
  if (problems.length) console.error(problems.join("\n"));
  await browser.close();
  process.exit(1);
}
await browser.close();
