'use strict';
// BullMQ on the REDIS_URL docker-entrypoint.sh builds (the service's ACL user).
const { Queue } = require('bullmq');

function connection() {
  const url = new URL(process.env.REDIS_URL);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    // Workers block on Redis: BullMQ wants no per-request retry limit.
    maxRetriesPerRequest: null,
  };
}

const calls = () => new Queue('calls', { connection: connection() });
module.exports = { connection, calls };
