'use strict';
// The browser half the reference apps' e2e/browser.cjs share (the tests copy
// it beside them, so playwright-core resolves from the app's node_modules):
// Debian's Chromium, headless via playwright-core (no browser download),
// sending DOMAIN to the generated nginx on 127.0.0.1:HTTPS_PORT, with every
// CSP violation and console error of the page collected; `drive` runs a
// script's visit on it.
const { chromium } = require('playwright-core');

async function launch(domain, httpsPort, userDataDir) {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=MAP ${domain} 127.0.0.1:${httpsPort}`,
      // The sandboxed nginx has a throwaway self-signed certificate.
      '--ignore-certificate-errors',
    ],
  });
  const violations = [];
  await context.exposeBinding('reportCspViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const page = context.pages()[0] || (await context.newPage());
  const consoleErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  // The console says only "404"; this names the resource.
  page.on('response', (r) => {
    if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`);
  });
  return { context, page, violations, consoleErrors };
}

// A browser script's whole run: DOMAIN HTTPS_PORT USER_DATA_DIR from its
// arguments, the page loaded at https://DOMAIN/ (its status and CSP header
// recorded in `out`), then `visit` with the browser, which records the rest;
// prints `out` as one JSON line, or fails the process.
function drive(visit) {
  const [domain, httpsPort, userDataDir] = process.argv.slice(2);
  (async () => {
    const browser = await launch(domain, httpsPort, userDataDir);
    const out = {};
    const response = await browser.page.goto(`https://${domain}/`, { waitUntil: 'load' });
    out.status = response.status();
    out.csp = (await response.allHeaders())['content-security-policy'] || null;
    await visit({ ...browser, domain, out });
    await browser.context.close();
    console.log(JSON.stringify(out));
  })().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { launch, drive };
