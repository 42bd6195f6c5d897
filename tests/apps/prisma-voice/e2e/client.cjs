'use strict';
// Plays Twilio at the generated nginx through twilio-call.cjs (which the
// test copies here from tests/apps/_shared): the signed, tampered and
// unsigned voice webhook, then the media stream. Then reads the stored call
// back through the edge, twice (the second from the app's Redis cache).
// Prints one JSON line for tests/e2e/prisma.rs.
//
//   node e2e/client.cjs DOMAIN HTTPS_PORT AUTH_TOKEN
const { CALL, edge, playCall, printResult } = require('./twilio-call.cjs');

const [domain, port, authToken] = process.argv.slice(2);

printResult(async () => {
  const out = await playCall(domain, port, authToken, '/voice/incoming');
  const { get } = edge(domain, port);
  out.reads = [];
  for (let i = 0; i < 2; i++) {
    const read = await get(`/calls/${CALL.CallSid}`);
    out.reads.push({
      status: read.status,
      cache: read.headers['x-cache'],
      body: read.status === 200 ? JSON.parse(read.body) : read.body,
    });
  }
  return out;
});
