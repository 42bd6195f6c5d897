'use strict';
// The WebSocket on /ws (a minimal RFC 6455 echo: handshake, text frames,
// close) and the generated metrics module, hooked into node:http.
const http = require('node:http');
const crypto = require('node:crypto');
const metrics = require('./metrics.cjs');

const WS_PATH = '/ws';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function frame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, payload]);
}

function upgrade(req, socket) {
  const key = req.headers['sec-websocket-key'];
  if (!key) {
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 6) {
      const opcode = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        len = buf.readUInt16BE(2);
        off = 4;
      }
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const data = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < data.length; i += 1) data[i] ^= mask[i % 4];
      buf = buf.subarray(off + 4 + len);
      if (opcode === 0x8) {
        socket.end(frame(0x8, Buffer.alloc(0)));
        return;
      }
      if (opcode === 0x1) socket.write(frame(0x1, data));
    }
  });
  socket.on('error', () => socket.destroy());
}

/** The path without query, lower-cased, with no trailing slash. */
function normalised(url) {
  return (url || '').split('?')[0].toLowerCase().replace(/\/+$/, '');
}

function attach() {
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function emitWithLiveUi(event, req, resOrSocket, ...rest) {
    if (event === 'upgrade' && (req.url || '').split('?')[0] === WS_PATH) {
      upgrade(req, resOrSocket);
      return true;
    }
    if (event === 'request') {
      // Deliberately lenient (any case, trailing slash): only the edge keeps
      // the scrape endpoint from the outside, and the test proves it does.
      if (normalised(req.url) === '/metrics') {
        metrics.handler(req, resOrSocket);
        return true;
      }
      metrics.middleware(req, resOrSocket, () => {});
    }
    return emit.call(this, event, req, resOrSocket, ...rest);
  };
}

module.exports = { attach };
