'use strict';
// Twilio voice: a signed webhook answers with TwiML that opens a media
// stream to /twilio/media; the call is stored in Postgres and a BullMQ job
// (the worker) marks it answered.
const http = require('node:http');
const express = require('express');
const twilio = require('twilio');
const { WebSocketServer } = require('ws');
const metrics = require('../src/metrics.cjs');
const { twilioWebhook, captureRawBody } = require('../src/webhooks/twilio-signature.cjs');
const { pool } = require('./db');
const { calls } = require('./queue');

const queue = calls();
const app = express();
app.set('trust proxy', 'loopback');
app.use(metrics.middleware);
app.get('/metrics', metrics.handler);

app.get('/health', (_req, res) => res.json({ status: 'ok' }));
app.get('/health/ready', async (_req, res) => {
  try {
    await pool.query('SELECT 1 FROM calls LIMIT 1');
    await (await queue.client).ping();
    res.json({ status: 'ready' });
  } catch (e) {
    res.status(503).json({ status: 'not ready', error: String(e.message) });
  }
});

app.post(
  '/twilio/voice',
  express.urlencoded({ extended: false, verify: captureRawBody }),
  express.json({ verify: captureRawBody }),
  twilioWebhook(),
  async (req, res, next) => {
    try {
      const { CallSid, From } = req.body;
      await pool.query('INSERT INTO calls (call_sid, caller) VALUES ($1, $2) ON CONFLICT DO NOTHING', [CallSid, From]);
      await queue.add('answer', { callSid: CallSid });
      const twiml = new twilio.twiml.VoiceResponse();
      const connect = twiml.connect();
      connect.stream({ url: `wss://${new URL(process.env.PUBLIC_BASE_URL).host}/twilio/media` });
      res.type('text/xml').send(twiml.toString());
    } catch (e) {
      next(e);
    }
  },
);

app.get('/calls/:sid', async (req, res) => {
  const { rows } = await pool.query('SELECT status, media_frames FROM calls WHERE call_sid = $1', [req.params.sid]);
  if (rows.length === 0) return res.status(404).end();
  return res.json(rows[0]);
});

// Media streams: Twilio sends JSON frames (start, media, stop); each media
// frame is counted against the call.
const server = http.createServer(app);
const wss = new WebSocketServer({ server, path: '/twilio/media' });
wss.on('connection', (socket) => {
  let callSid = null;
  socket.on('message', async (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.event === 'start') callSid = msg.start.callSid;
    if (msg.event === 'media' && callSid) {
      await pool.query('UPDATE calls SET media_frames = media_frames + 1 WHERE call_sid = $1', [callSid]);
      socket.send(JSON.stringify({ event: 'mark', streamSid: msg.streamSid, mark: { name: `ack-${msg.media.chunk}` } }));
    }
  });
});

server.listen(Number(process.env.PORT || 3000), process.env.HOST || '0.0.0.0');
process.on('SIGTERM', () => {
  // Stop taking requests, drop idle keep-alive connections, then leave.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  for (const socket of wss.clients) socket.close(1001);
});
