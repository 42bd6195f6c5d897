'use strict';
// `node dist/worker.js`: BullMQ jobs from the `calls` queue, as the worker ACL user.
const { Worker } = require('bullmq');
const { pool } = require('./db');
const { connection } = require('./queue');

const worker = new Worker(
  'calls',
  async (job) => {
    await pool.query("UPDATE calls SET status = 'answered' WHERE call_sid = $1", [job.data.callSid]);
  },
  { connection: connection() },
);
worker.on('failed', (job, err) => console.error(`job ${job && job.id} failed: ${err.message}`));
process.on('SIGTERM', async () => {
  await worker.close();
  process.exit(0);
});
