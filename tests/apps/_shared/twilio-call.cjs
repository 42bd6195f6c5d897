'use strict';
// The Twilio half the voice reference apps' e2e/client.cjs share (the tests
// copy it beside them, so `twilio` and `ws` resolve from the app's
// node_modules): plays Twilio at the generated nginx (127.0.0.1:PORT,
// reached by its real name) with a voice webhook to `path` signed by the
// official twilio SDK, the same one tampered with, one unsigned, then the
// media stream over the WebSocket the TwiML names.
const https = require('node:https');
const twilio = require('twilio');
const WebSocket = require('ws');

const CALL = { CallSid: 'CA0123456789abcdef', From: '+14155550100', To: '+14155550199', CallStatus: 'ringing' };

function edge(domain, port) {
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
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
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

  return { post, get, stream };
}

// The call `CALL` played at `path`: its statuses, TwiML, stream URL and the
// marks the app sent back over the stream.
async function playCall(domain, port, authToken, path) {
  const { post, stream } = edge(domain, port);
  const url = `https://${domain}${path}`;
  const signature = twilio.getExpectedTwilioSignature(authToken, url, CALL);
  const out = {};
  const signed = await post(path, CALL, signature);
  out.signed = signed.status;
  out.twiml = signed.body;
  out.tampered = (await post(path, { ...CALL, From: '+19995550100' }, signature)).status;
  out.unsigned = (await post(path, CALL, '')).status;
  const streamUrl = /<Stream url="([^"]+)"/.exec(signed.body);
  out.streamUrl = streamUrl && streamUrl[1];
  out.marks = out.streamUrl ? await stream(out.streamUrl, CALL.CallSid) : null;
  return out;
}

// Runs `main` and prints the JSON it returns, or fails the process.
function printResult(main) {
  main().then(
    (out) => console.log(JSON.stringify(out)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

module.exports = { CALL, edge, playCall, printResult };
