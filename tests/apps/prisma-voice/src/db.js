'use strict';
// Prisma Client without the native query engine: queries compile in
// WebAssembly and run through node-postgres (the pg driver adapter), on the
// DATABASE_URL docker-entrypoint.sh builds (sslmode and sslrootcert in it).
const { PrismaClient } = require('../generated/prisma');
const { PrismaPg } = require('@prisma/adapter-pg');

const prisma = new PrismaClient({
  adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL, max: 5 }),
});
module.exports = { prisma };
