'use strict';
// Plays Twilio at the generated nginx (127.0.0.1:PORT, reached by its real
// name): a voice webhook signed by the official twilio SDK, the same one
// tampered with, then the media stream over the WebSocket the TwiML names.
// Then reads the stored call back through the edge, twice (the second
// from the app's Redis cache). Prints one JSON line for tests/e2e/prisma.rs.
//
//   node e2e/client.cjs DOMAIN HTTPS_PORT AUTH_TOKEN
const https = require('node:https');
const twilio = require('twilio');
const WebSocket = require('ws');

const [domain, port, authToken] = process.argv.slice(2);
const agent = new https.Agent({ rejectUnauthorized: false, servername: domain });

function post(path, form, signature) {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: {
          host: domain,
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          'x-twilio-signature': signature,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function get(path) {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path, agent, headers: { host: domain } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, cache: res.headers['x-cache'], body: text }));
      })
      .on('error', reject);
  });
}

function stream(url, callSid) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const socket = new WebSocket(`wss://127.0.0.1:${port}${u.pathname}`, {
      headers: { host: domain },
      servername: domain,
      rejectUnauthorized: false,
    });
    const marks = [];
    socket.on('open', () => {
      socket.send(JSON.stringify({ event: 'start', streamSid: 'MZ1', start: { callSid } }));
      for (let chunk = 1; chunk <= 3; chunk++) {
        socket.send(JSON.stringify({ event: 'media', streamSid: 'MZ1', media: { chunk, payload: 'AAAA' } }));
      }
    });
    socket.on('message', (data) => {
      marks.push(JSON.parse(data.toString()).mark.name);
      if (marks.length === 3) {
        socket.close();
        resolve(marks.sort());
      }
    });
    socket.on('error', reject);
    setTimeout(() => reject(new Error(`no marks after 10 s: ${marks}`)), 10000);
  });
}

async function main() {
  const path = '/voice/incoming';
  const url = `https://${domain}${path}`;
  const form = { CallSid: 'CA0123456789abcdef', From: '+14155550100', To: '+14155550199', CallStatus: 'ringing' };
  const signature = twilio.getExpectedTwilioSignature(authToken, url, form);
  const out = {};
  const signed = await post(path, form, signature);
  out.signed = signed.status;
  out.twiml = signed.body;
  out.tampered = (await post(path, { ...form, From: '+19995550100' }, signature)).status;
  out.unsigned = (await post(path, form, '')).status;
  const streamUrl = /<Stream url="([^"]+)"/.exec(signed.body);
  out.streamUrl = streamUrl && streamUrl[1];
  out.marks = out.streamUrl ? await stream(out.streamUrl, form.CallSid) : null;
  out.reads = [];
  for (let i = 0; i < 2; i++) {
    const read = await get(`/calls/${form.CallSid}`);
    out.reads.push({ status: read.status, cache: read.cache, body: read.status === 200 ? JSON.parse(read.body) : read.body });
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
