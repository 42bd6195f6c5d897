'use strict';
// RingCentral telephony-session webhooks: a party put on hold becomes a Bull
// job; when the worker has recorded it, every Socket.io client hears of it.
const http = require('node:http');
const express = require('express');
const { Server } = require('socket.io');
const metrics = require('./metrics.cjs');
const { ringcentralWebhook } = require('../src/webhooks/ringcentral-webhook.cjs');
const { holdChecks } = require('./queue');

const queue = holdChecks();
const app = express();
app.set('trust proxy', 'loopback');
app.use(metrics.middleware);
app.get('/metrics', metrics.handler);

app.get('/health', (_req, res) => res.json({ status: 'ok' }));
app.get('/health/ready', async (_req, res) => {
  try {
    await queue.client.ping();
    res.json({ status: 'ready' });
  } catch (e) {
    res.status(503).json({ status: 'not ready', error: String(e.message) });
  }
});

app.post('/webhooks/ringcentral', ringcentralWebhook(), express.json(), async (req, res, next) => {
  try {
    // The handshake has no body: ringcentralWebhook() has echoed the token.
    const event = req.body && req.body.body;
    if (event && Array.isArray(event.parties)) {
      for (const party of event.parties) {
        if (party.status && party.status.code === 'Hold') {
          await queue.add({ sessionId: event.telephonySessionId, partyId: party.id });
        }
      }
    }
    res.status(200).end();
  } catch (e) {
    next(e);
  }
});

const server = http.createServer(app);
const io = new Server(server, { serveClient: false });
queue.on('global:completed', (_jobId, result) => {
  io.emit('hold', JSON.parse(result));
});

server.listen(Number(process.env.PORT || 3000), process.env.HOST || '0.0.0.0');
process.on('SIGTERM', () => {
  io.close();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
