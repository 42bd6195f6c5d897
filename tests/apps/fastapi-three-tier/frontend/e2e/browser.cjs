'use strict';
// Drives Debian's Chromium (headless, via playwright-core; no browser
// download) at the generated nginx on 127.0.0.1:PORT, reached by its real
// name. Loads the React build, clicks "Start a call" and waits for the
// worker's transcript. Prints one JSON line for tests/e2e_fastapi.rs.
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
  page.on('response', (r) => {
    if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`);
  });

  const out = {};
  const response = await page.goto(`https://${domain}/`, { waitUntil: 'load' });
  out.status = response.status();
  out.csp = (await response.allHeaders())['content-security-policy'] || null;
  await page.waitForSelector('#start', { timeout: 10000 });
  out.before = await page.textContent('#state');
  await page.click('#start');
  await page
    .waitForFunction(() => /^(done|timed out)/.test(document.querySelector('#state').textContent), null, {
      timeout: 30000,
    })
    .catch(() => {});
  out.after = await page.textContent('#state');
  // A client-side route: nginx falls back to index.html.
  const deep = await page.goto(`https://${domain}/calls/history`, { waitUntil: 'load' });
  out.deepStatus = deep.status();
  out.deepRendered = (await page.textContent('h1').catch(() => null)) || null;
  out.violations = violations;
  out.consoleErrors = consoleErrors;
  await context.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
