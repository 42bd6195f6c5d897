'use strict';
// Drives Chromium (through browser-launch.cjs, which the test copies here
// from tests/apps/_shared) at the generated nginx, which listens on
// 127.0.0.1:PORT and is reached by its real name. Prints one JSON line for
// tests/e2e/next.rs.
//
//   node e2e/browser.cjs DOMAIN HTTPS_PORT USER_DATA_DIR
const { drive } = require('./browser-launch.cjs');

drive(async ({ page, domain, violations, consoleErrors, out }) => {
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
});
