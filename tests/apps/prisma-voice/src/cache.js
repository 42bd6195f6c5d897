'use strict';
// Redis as a cache (allkeys-lru in the generated config), on the REDIS_URL
// docker-entrypoint.sh builds as the app's ACL user.
const Redis = require('ioredis');

const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 2 });
module.exports = { redis };
