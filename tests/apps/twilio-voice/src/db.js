'use strict';
// Postgres through pg, on the DATABASE_URL docker-entrypoint.sh builds.
const { Pool } = require('pg');

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 5 });
module.exports = { pool };
