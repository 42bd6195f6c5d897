'use strict';
// Bull on the REDIS_URL docker-entrypoint.sh builds (the service's ACL user).
// Redis is the only store: jobs, and the hold records the worker writes.
const Queue = require('bull');

const holdChecks = () => new Queue('hold-checks', process.env.REDIS_URL);
module.exports = { holdChecks };
