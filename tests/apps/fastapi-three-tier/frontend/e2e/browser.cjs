'use strict';
// Drives Chromium (through browser-launch.cjs, which the test copies here
// from tests/apps/_shared) at the generated nginx on 127.0.0.1:PORT, reached
// by its real name. Loads the React build, clicks "Start a call" and waits
// for the worker's transcript. Prints one JSON line for tests/e2e/fastapi.rs.
//
//   node e2e/browser.cjs DOMAIN HTTPS_PORT USER_DATA_DIR
const { drive } = require('./browser-launch.cjs');

drive(async ({ page, domain, violations, consoleErrors, out }) => {
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
});
