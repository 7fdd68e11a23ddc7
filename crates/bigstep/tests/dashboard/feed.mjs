// Two people on the demo site in headless Chromium (two browser contexts: no
// shared cookies): Bea watches the live feed (/events), Ada logs in, uploads a
// file and loads the page. Each of Ada's actions must appear in Bea's feed,
// and at least one of them must have happened on another instance than the
// one serving Bea's stream (IPC over the network, not inside one process).
//
//   NODE_PATH=.ci/node/node_modules node feed.mjs SITE_URL SCREENSHOT
//
// Run by `two_browsers_see_each_other_in_the_live_feed` in ../up_feed.rs.
// Prints `stream on X`, `seen KIND from Y` lines and `cross-instance: Y -> X`;
// exits 0 on success, 1 with the reason otherwise.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [site, screenshot] = process.argv.slice(2);
if (!site || !screenshot) {
  console.error("usage: node feed.mjs SITE_URL SCREENSHOT");
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
const watch = (page, who) => {
  page.on("pageerror", (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/favicon/.test(m.text())) problems.push(`${who}: console error: ${m.text()}`);
  });
  page.setDefaultTimeout(15_000);
};
try {
  const bea = await (await browser.newContext()).newPage();
  const ada = await (await browser.newContext()).newPage();
  watch(bea, "bea");
  watch(ada, "ada");

  await bea.goto(new URL("/events", site).href);
  await bea.waitForFunction(() => document.getElementById("status").className === "live");
  const streamOn = (await bea.locator("#stream-instance").textContent()).trim();
  console.log(`stream on ${streamOn}`);

  // Wait for an event of `kind` whose text contains `text` in Bea's feed; its instance.
  const seen = async (kind, text) => {
    const li = bea.locator(`#feed li[data-kind="${kind}"]`, { hasText: text }).first();
    await li.waitFor();
    const on = await li.getAttribute("data-instance");
    console.log(`seen ${kind} from ${on}`);
    return on;
  };
  const from = [];
  // A form submit that ends on the home page again (POST/GET, 303, GET /).
  const submit = async (button) => {
    const home = ada.waitForResponse((r) => new URL(r.url()).pathname === "/" && r.request().method() === "GET");
    await ada.click(button);
    await home;
    await ada.waitForLoadState();
  };

  // Ada logs in with the form on the page.
  await ada.goto(site);
  await ada.fill('#login input[name="name"]', "Ada Lovelace");
  await submit("#login button");
  await ada.locator("#name").waitFor();
  from.push(await seen("login", "Ada Lovelace logged in"));

  // Ada uploads a file with the form.
  await ada.setInputFiles('#upload input[type="file"]', {
    name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("analytical engine\n"),
  });
  await submit("#upload button");
  from.push(await seen("upload", "notes.txt uploaded"));

  // Ada reloads the page (the shared visit counter goes up) until a visit has
  // been counted on another instance than Bea's stream, at most 10 times.
  for (let i = 0; i < 10 && from.every((on) => on === streamOn); i++) {
    const before = await bea.locator('#feed li[data-kind="visit"]').count();
    await ada.reload();
    const visits = await ada.locator("#visits").textContent();
    await bea.waitForFunction((n) => document.querySelectorAll('#feed li[data-kind="visit"]').length > n, before);
    from.push(await seen("visit", `visit #${visits.trim()}`));
  }
  const other = from.find((on) => on !== streamOn);
  if (!other) throw new Error(`every event came from ${streamOn}, the instance serving the stream`);
  console.log(`cross-instance: ${other} -> ${streamOn}`);

  // What Bea's page shows is text, never markup: no element came from an event.
  if (await bea.locator("#feed script, #feed img").count()) throw new Error("markup from an event was rendered");
  await bea.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
  if (problems.length) throw new Error(problems.join("\n"));
} catch (e) {
  console.error(String(e && e.stack || e));
  if (problems.length) console.error(problems.join("\n"));
  await browser.close();
  process.exit(1);
}
await browser.close();
