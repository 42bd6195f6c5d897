'use strict';
// The Prisma CLI's settings. `engine: "js"` runs migrations with the
// WebAssembly schema engine that ships inside the prisma package, over the
// pg driver adapter the app uses too: no native schema engine is fetched
// from Prisma's servers, and the connection honours DATABASE_URL's
// sslmode=verify-full and sslrootcert like every other client.
const { defineConfig } = require('prisma/config');
const { PrismaPg } = require('@prisma/adapter-pg');

module.exports = defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL }),
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
