'use strict';
// Drives Debian's Chromium (headless, via playwright-core; no browser
// download) at the generated nginx, which listens on 127.0.0.1:PORT and is
// reached by its real name. Prints one JSON line for tests/e2e_next.rs.
//
//   node e2e/browser.cjs DOMAIN HTTPS_PORT USER_DATA_DIR
const { chromium } = require('playwright-core');

const [domain, httpsPort, userDataDir] = process.argv.slice(2);

async function main() {
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

  const out = {};
  const response = await page.goto(`https://${domain}/`, { waitUntil: 'load' });
  out.status = response.status();
  out.csp = (await response.allHeaders())['content-security-policy'] || null;
  // The socket's echo is set by an effect: it shows that React hydrated.
  await page.waitForFunction(
    () => (document.querySelector('#socket')?.textContent || '').startsWith('echo:'),
    null,
    { timeout: 15000 },
  ).catch(() => {});
  out.socket = await page.textContent('#socket');
  out.clicksBefore = await page.textContent('#clicks');
  await page.click('#increment');
  await page.waitForFunction(() => document.querySelector('#clicks')?.textContent === 'clicked 1 times', null, { timeout: 5000 }).catch(() => {});
  out.clicksAfter = await page.textContent('#clicks');
  out.violations = violations.splice(0);
  out.consoleErrors = consoleErrors.splice(0);

  // Control: the ISR page is prerendered HTML without nonces, so the same
  // listener must report its blocked inline scripts.
  await page.goto(`https://${domain}/isr`, { waitUntil: 'load' });
  await page.waitForTimeout(500);
  out.isrViolations = violations.splice(0);

  await context.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
