'use strict';
// `node src/worker.js`: hold checks from Bull, recorded in Redis (the only
// store) as the worker ACL user.
const { holdChecks } = require('./queue');

const queue = holdChecks();
queue.process(async (job) => {
  const { sessionId, partyId } = job.data;
  const key = `hold:${sessionId}`;
  await queue.client.hset(key, 'party', partyId, 'since', new Date().toISOString());
  return { sessionId, partyId, key };
});
process.on('SIGTERM', async () => {
  await queue.close();
  process.exit(0);
});
