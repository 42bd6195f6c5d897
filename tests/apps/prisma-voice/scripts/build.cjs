'use strict';
// The "compile" step: src/*.js to dist/, as tsc would lay it out. The
// generated .cjs modules stay in src/ (tsc does not copy them) and are
// required through the project root, as their usage notes say.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
fs.mkdirSync(path.join(root, 'dist'));
for (const name of fs.readdirSync(path.join(root, 'src'))) {
  if (name.endsWith('.js')) fs.copyFileSync(path.join(root, 'src', name), path.join(root, 'dist', name));
}
