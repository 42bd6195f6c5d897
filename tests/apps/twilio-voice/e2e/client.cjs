'use strict';
// Plays Twilio at the generated nginx through twilio-call.cjs (which the
// test copies here from tests/apps/_shared): the signed, tampered and
// unsigned voice webhook, then the media stream. Prints one JSON line for
// tests/e2e/twilio.rs.
//
//   node e2e/client.cjs DOMAIN HTTPS_PORT AUTH_TOKEN
const { playCall, printResult } = require('./twilio-call.cjs');

const [domain, port, authToken] = process.argv.slice(2);

printResult(() => playCall(domain, port, authToken, '/twilio/voice'));
