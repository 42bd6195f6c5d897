'use strict';
// The browser half the reference apps' e2e/browser.cjs share (the tests copy
// it beside them, so playwright-core resolves from the app's node_modules):
// Debian's Chromium, headless via playwright-core (no browser download),
// sending DOMAIN to the generated nginx on 127.0.0.1:HTTPS_PORT, with every
// CSP violation and console error of the page collected.
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

module.exports = { launch };
