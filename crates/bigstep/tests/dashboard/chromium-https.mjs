// Headless Chromium for the HTTPS tests (https.mjs, https-websocket.mjs): the
// test certificate trusted by its public key (as
// `--ignore-certificate-errors-spki-list` does for a pinned key) and the
// site's name resolved to loopback.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

export function launchHttps(spki, host) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--ignore-certificate-errors-spki-list=" + spki,
      "--host-resolver-rules=MAP " + host + " 127.0.0.1",
    ],
    timeout: 30_000,
  });
}
