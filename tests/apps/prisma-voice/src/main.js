'use strict';
// Twilio voice on Prisma: a signed webhook stores the call through Prisma
// and answers with TwiML that opens a media stream to /voice/stream, whose
// frames are counted against the call; /calls/:sid reads the row back
// (through a short Redis cache).
const http = require('node:http');
const express = require('express');
const twilio = require('twilio');
const { WebSocketServer } = require('ws');
const metrics = require('../src/metrics.cjs');
const { twilioWebhook, captureRawBody } = require('../src/webhooks/twilio-signature.cjs');
const { prisma } = require('./db');
const { redis } = require('./cache');

const app = express();
app.set('trust proxy', 'loopback');
app.use(metrics.middleware);
app.get('/metrics', metrics.handler);

app.get('/health', (_req, res) => res.json({ status: 'ok' }));
app.get('/health/ready', async (_req, res) => {
  try {
    // The migrated table, not only the server: a release whose migrations
    // did not run is not ready.
    await prisma.call.count();
    await redis.ping();
    res.json({ status: 'ready' });
  } catch (e) {
    res.status(503).json({ status: 'not ready', error: String(e.message) });
  }
});

app.post(
  '/voice/incoming',
  express.urlencoded({ extended: false, verify: captureRawBody }),
  express.json({ verify: captureRawBody }),
  twilioWebhook(),
  async (req, res, next) => {
    try {
      const { CallSid, From } = req.body;
      await prisma.call.upsert({
        where: { callSid: CallSid },
        create: { callSid: CallSid, caller: From },
        update: {},
      });
      const twiml = new twilio.twiml.VoiceResponse();
      twiml.connect().stream({ url: `wss://${new URL(process.env.PUBLIC_BASE_URL).host}/voice/stream` });
      res.type('text/xml').send(twiml.toString());
    } catch (e) {
      next(e);
    }
  },
);

app.get('/calls/:sid', async (req, res, next) => {
  try {
    const key = `call:${req.params.sid}`;
    const cached = await redis.get(key);
    if (cached) return res.set('x-cache', 'hit').type('json').send(cached);
    const call = await prisma.call.findUnique({ where: { callSid: req.params.sid } });
    if (!call) return res.status(404).end();
    const body = JSON.stringify({ caller: call.caller, mediaFrames: call.mediaFrames });
    await redis.set(key, body, 'EX', 2);
    return res.set('x-cache', 'miss').type('json').send(body);
  } catch (e) {
    return next(e);
  }
});

// Media streams: Twilio sends JSON frames (start, media, stop); each media
// frame is counted against the call.
const server = http.createServer(app);
const wss = new WebSocketServer({ server, path: '/voice/stream' });
wss.on('connection', (socket) => {
  let callSid = null;
  socket.on('message', async (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.event === 'start') callSid = msg.start.callSid;
    if (msg.event === 'media' && callSid) {
      await prisma.call.update({ where: { callSid }, data: { mediaFrames: { increment: 1 } } });
      socket.send(JSON.stringify({ event: 'mark', streamSid: msg.streamSid, mark: { name: `ack-${msg.media.chunk}` } }));
    }
  });
});

server.listen(Number(process.env.PORT || 3000), process.env.HOST || '0.0.0.0');
process.on('SIGTERM', () => {
  // Stop taking requests, drop idle keep-alive connections, then leave.
  server.close(async () => {
    await prisma.$disconnect();
    redis.disconnect();
    process.exit(0);
  });
  server.closeIdleConnections();
  for (const socket of wss.clients) socket.close(1001);
});
