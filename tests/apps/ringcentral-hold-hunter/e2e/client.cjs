'use strict';
// Plays RingCentral and a browser at the generated nginx (127.0.0.1:PORT,
// reached by its real name): a Socket.io client over the edge's WebSocket,
// the subscription handshake (Validation-Token, no body), a hold
// notification with the subscription's token, the same with a wrong token.
// Prints one JSON line for tests/e2e/ringcentral.rs.
//
//   node e2e/client.cjs DOMAIN HTTPS_PORT VERIFICATION_TOKEN
const https = require('node:https');
const { io } = require('socket.io-client');

const [domain, port, token] = process.argv.slice(2);
const agent = new https.Agent({ rejectUnauthorized: false, servername: domain });

function post(headers, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: '/webhooks/ringcentral',
        method: 'POST',
        agent,
        headers: { host: domain, ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, echo: res.headers['validation-token'] || null }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  // The sandboxed nginx on loopback, asked for the real name.
  const socket = io(`https://127.0.0.1:${port}`, {
    transports: ['websocket'],
    agent,
    rejectUnauthorized: false,
    extraHeaders: { host: domain },
  });
  const out = {};
  await new Promise((resolve, reject) => {
    socket.on('connect', resolve);
    socket.on('connect_error', reject);
  });
  out.transport = socket.io.engine.transport.name;
  const held = new Promise((resolve) => socket.on('hold', resolve));
  const handshake = await post({ 'validation-token': 'rc-handshake-42' });
  out.handshake = handshake;
  const event = JSON.stringify({
    uuid: 'e2e-1',
    event: '/restapi/v1.0/account/~/telephony/sessions',
    body: { telephonySessionId: 's-e2e-1', parties: [{ id: 'p-1', status: { code: 'Hold' } }] },
  });
  out.notification = (await post({ 'verification-token': token }, event)).status;
  out.wrongToken = (await post({ 'verification-token': `${token}x` }, event)).status;
  out.noToken = (await post({}, event)).status;
  out.hold = await Promise.race([held, new Promise((r) => setTimeout(() => r(null), 15000))]);
  socket.close();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
