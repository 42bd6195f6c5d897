'use strict';
// `node dist/migrate.js`: compose's migrate service runs it before a release.
const { pool } = require('./db');

async function main() {
  await pool.query(`CREATE TABLE IF NOT EXISTS calls (
    call_sid text PRIMARY KEY,
    caller text NOT NULL,
    status text NOT NULL DEFAULT 'ringing',
    media_frames integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now())`);
  await pool.end();
  console.log('migrated');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
