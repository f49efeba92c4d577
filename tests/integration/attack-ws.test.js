'use strict';
// WebSocket clients that do not read (security review, issue 8): the server must drop them
// through its send-queue limit and stay responsive, whatever they send.
//
//  1. An unauthenticated client upgrades on /socket.io/, stops reading and floods masked
//     125-byte pings. The pongs cannot leave; they count against the send queue like data, so
//     the client is dropped. Meanwhile and afterwards /healthz answers and the server's CPU
//     is idle (the driver once spun for ever in its flush loop on such a connection).
//  2. An authenticated Socket.IO client (raw WebSocket, CONNECT with a token) stops reading
//     while orders are broadcast to it: it is dropped, a normal socket.io-client gets every
//     order, memory stays bounded and the file descriptors come back.
//
// Raw node:net clients: the `ws` package would read (and answer) on its own.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { io } = require('socket.io-client');
const { start, sampleOrder } = require('../lib/harness');
const { shutdown, withTimeout, escapeRe, sleep } = require('../lib/wait');

const WAIT = 8000; // ms: the longest any single expected event may take (ASan build included)

// ---- /proc probes ------------------------------------------------------------------------

/** CPU time (user + system) of `pid` in seconds. */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
}

/** Share of one core `pid` used over the next `ms`. */
async function cpuShare(pid, ms = 1000) {
  const c0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  await sleep(ms);
  const c1 = cpuSeconds(pid);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  return (c1 - c0) / dt;
}

const rssBytes = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

// ---- helpers -----------------------------------------------------------------------------

/**
 * One request on its own connection ("Connection: close"): the server's descriptor count
 * then shows no idle keep-alive connections of ours. Resolves with {status, json}; rejects
 * after `ms` without a complete answer.
 */
function request(h, method, p, { token, body, ms = WAIT } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (data !== undefined) headers['Content-Type'] = 'application/json';
    const req = http.request({ host: '127.0.0.1', port: h.port, method, path: p, headers, agent: false, timeout: ms }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json;
        try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
        resolve({ status: res.statusCode, text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ms} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** GET /healthz, failing if there is no 200 within `ms`. */
async function healthz(h, ms = 2000) {
  let res;
  try {
    res = await request(h, 'GET', '/healthz', { ms });
  } catch (e) {
    throw new Error(`/healthz did not answer within ${ms} ms (${e.message})`);
  }
  assert.equal(res.status, 200, '/healthz status');
}

/** One masked client frame (FIN set). */
function maskedFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
    : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, key, body]);
}

/**
 * A raw WebSocket client on node:net: the upgrade on /socket.io/?EIO=4&transport=websocket,
 * then `texts()` yields the server's text frames as they are read (until pause()).
 */
function rawClient(h) {
  const sock = net.connect({ host: '127.0.0.1', port: h.port });
  const c = { sock, closed: false, error: null, frames: [], waiters: [] };
  let buf = Buffer.alloc(0);
  let upgraded = false;
  c.closedP = new Promise((resolve) => sock.on('close', () => { c.closed = true; resolve(); }));
  sock.on('error', (e) => { c.error = e; }); // a reset or EPIPE is one way to be dropped
  const wake = () => { for (const w of c.waiters.splice(0)) w(); };
  c.upgradedP = new Promise((resolve, reject) => {
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(head)) {
          reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
          return;
        }
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve();
      }
      // unmasked server frames, small enough here to take the 7- or 16-bit length
      while (buf.length >= 2) {
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) break;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) break;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) break;
        if ((buf[0] & 0x0f) === 1) c.frames.push(buf.subarray(off, off + len).toString('utf8'));
        buf = buf.subarray(off + len);
      }
      wake();
    });
    sock.on('close', () => reject(new Error('closed before the upgrade')));
  });
  sock.on('close', wake);
  sock.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n`
    + 'Upgrade: websocket\r\nConnection: Upgrade\r\n'
    + `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  /** Resolves with the first text frame (from the start) for which pred holds. */
  c.text = (pred, ms = WAIT) => withTimeout(new Promise((resolve, reject) => {
    const check = () => {
      const f = c.frames.find(pred);
      if (f !== undefined) resolve(f);
      else if (c.closed) reject(new Error(`closed; frames: ${c.frames.join(' ')}`));
      else c.waiters.push(check);
    };
    check();
  }), ms, 'a frame from the server');
  return c;
}

/** Resolves once `socket` (socket.io-client) is connected; rejects on connect_error. */
function connected(socket, ms = WAIT) {
  return withTimeout(new Promise((resolve, reject) => {
    if (socket.connected) resolve();
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  }), ms, 'socket.io-client connect');
}

// ---- the attacks -------------------------------------------------------------------------

describe('WebSocket clients that do not read', () => {
  let h;
  before(async () => {
    h = await start({
      users: [{ name: 'admin', role: 'admin', password: 'admin-secret' },
        { name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' }],
      args: ['--order-rate', '0'],
      // Under ASan freed memory waits in a quarantine (256 MB by default) before reuse: keep it
      // small so that RSS shows what the server holds (other builds ignore the variable).
      env: { ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'quarantine_size_mb=8'].filter(Boolean).join(':') },
    });
  });
  after(async () => {
    await shutdown(h);
  });

  it('a ping flood from a client that never reads is dropped; the server stays responsive',
    { timeout: 25000 }, async () => {
      const pid = h.proc.pid;
      await healthz(h);
      const fds0 = fdCount(pid);

      const atk = rawClient(h);
      await withTimeout(atk.upgradedP, WAIT, 'the upgrade');
      atk.sock.pause(); // never reads again: its receive buffer fills, then the server's queue

      // Masked 125-byte pings, in 64 KiB writes, for at most 4 s / 64 MB or until dropped.
      const ping = maskedFrame(0x9, Buffer.alloc(125, 0x70));
      const chunk = Buffer.concat(Array.from({ length: 500 }, () => ping));
      let sent = 0;
      let healthFailure = null;
      let checks = 0;
      const t0 = Date.now();
      const flood = (async () => {
        while (!atk.closed && !atk.sock.destroyed && Date.now() - t0 < 4000 && sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!atk.sock.write(chunk)) {
            await new Promise((resolve) => { // drained, closed, or 100 ms: whichever comes first
              const done = () => {
                clearTimeout(t);
                atk.sock.off('drain', done);
                atk.sock.off('close', done);
                resolve();
              };
              const t = setTimeout(done, 100);
              atk.sock.on('drain', done);
              atk.sock.on('close', done);
            });
          }
        }
      })();
      const probe = (async () => {
        while (Date.now() - t0 < 4000 && !healthFailure) {
          try {
            await healthz(h, 2000);
            checks += 1;
          } catch (e) {
            healthFailure = e;
          }
          await sleep(200);
        }
      })();
      await Promise.all([flood, probe]);
      if (process.env.KDS_TEST_VERBOSE) {
        console.error(`flood: ${sent} bytes in ${Date.now() - t0} ms, closed ${atk.closed} (${atk.error && atk.error.code}), ${checks} checks`);
      }
      if (healthFailure) throw new Error(`during the flood (${sent} bytes of pings sent): ${healthFailure.message}`);
      assert.ok(checks >= 3, `/healthz answered ${checks} times during the flood`);

      // Dropped for its send queue: the server closed the connection (seen here as a write
      // error, or as the close once we read again).
      atk.sock.resume();
      await withTimeout(atk.closedP, WAIT, `the server to drop the flooding client (${sent} bytes sent)`);

      // After it left: the server is idle and answers.
      atk.sock.destroy();
      await sleep(300);
      const share = await cpuShare(pid, 1000);
      assert.ok(share < 0.5, `the server uses ${(share * 100).toFixed(0)}% of a core after the attacker left`);
      await healthz(h);
      let fds = fdCount(pid);
      for (let i = 0; i < 20 && fds > fds0 + 2; i++) {
        await sleep(100);
        fds = fdCount(pid);
      }
      assert.ok(fds <= fds0 + 2, `file descriptors back near ${fds0}: ${fds}`);
    });

  it('a Socket.IO client that stops reading is dropped, the others get every order; memory and fds bounded',
    { timeout: 30000 }, async () => {
      const pid = h.proc.pid;
      const cats = (await request(h, 'GET', '/api/v1/categories', { token: h.tokens.admin })).json;
      assert.ok(Array.isArray(cats) && cats.length > 0, 'the demo categories');
      const ids = [];
      for (let i = 0; i < 60; i += 10) {
        ids.push(...await Promise.all(Array.from({ length: 10 }, async (_, k) => {
          const name = `Flood item ${String(i + k).padStart(3, '0')} ${'with a long descriptive name '.repeat(2)}`.trim();
          const r = await request(h, 'POST', '/api/v1/products', {
            token: h.tokens.admin, body: { name, price: 1000 + i + k, category_id: cats[(i + k) % cats.length].id },
          });
          assert.equal(r.status, 201, `POST /api/v1/products: ${r.status} ${r.text}`);
          return r.json.id;
        })));
      }
      await healthz(h);
      const fds0 = fdCount(pid);
      const rss0 = rssBytes(pid);
      let rssMax = rss0;

      // The stalled client: Engine.IO open, Socket.IO CONNECT with a valid token, then it stops.
      const raw = rawClient(h);
      await withTimeout(raw.upgradedP, WAIT, 'the upgrade');
      await raw.text((t) => t.startsWith('0{'));
      raw.sock.write(maskedFrame(0x1, Buffer.from(`40${JSON.stringify({ token: h.tokens.admin })}`)));
      const connectReply = await raw.text((t) => t.startsWith('40') || t.startsWith('44'));
      assert.ok(connectReply.startsWith('40{'), `CONNECT accepted: ${connectReply}`);
      const sid = JSON.parse(connectReply.slice(2)).sid;
      raw.sock.pause();

      // A normal client, which must get every order.
      const good = io(h.url, { forceNew: true, reconnection: false, transports: ['websocket'], auth: { token: h.tokens.admin } });
      try {
        await connected(good);
        const got = new Set();
        good.on('new-order', (o) => got.add(o.invoice_number));

        // Big orders (60 products with long names) fill the stalled client's buffers sooner:
        // post in batches of 16 until the server logs its disconnect, at most 4000 orders / 18 s.
        const body = sampleOrder(ids.map((id) => ({ product_id: id, qty: 2 })), { note: 'n'.repeat(400) });
        const dropped = h.waitForLog(new RegExp(`Client disconnected: ${escapeRe(sid)}`), 20000);
        let isDropped = false;
        dropped.then(() => { isDropped = true; }, () => {});
        const invoices = [];
        const t0 = Date.now();
        while (!isDropped && invoices.length < 4000 && Date.now() - t0 < 18000) {
          const batch = await Promise.all(Array.from({ length: 16 }, async () => {
            const r = await request(h, 'POST', '/api/v1/orders', { token: h.tokens.kasir1, body });
            assert.equal(r.status, 201, `POST /api/v1/orders: ${r.status} ${r.text}`);
            return r.json.invoice_number;
          }));
          invoices.push(...batch);
          rssMax = Math.max(rssMax, rssBytes(pid));
        }
        await dropped; // fails with the server's last log lines if it never came
        assert.ok(!raw.closed, 'the stalled client cannot have seen the close yet: it is not reading');

        // The server closed the stalled connection: reading again finds its end.
        raw.sock.resume();
        await withTimeout(raw.closedP, WAIT, 'the dropped connection to end');

        // The normal client got every order (events may trail the POST responses a little).
        const tWait = Date.now();
        while (got.size < invoices.length && Date.now() - tWait < WAIT) await sleep(50);
        const missing = invoices.filter((inv) => !got.has(inv));
        assert.deepStrictEqual(missing, [], `the normal client missed ${missing.length} of ${invoices.length} orders`);
        rssMax = Math.max(rssMax, rssBytes(pid));
        if (process.env.KDS_TEST_VERBOSE) console.error(`RSS ${rss0} -> ${rssMax}, ${invoices.length} orders`);
        assert.ok(rssMax < rss0 + 100 * 1024 * 1024,
          `RSS bounded: ${(rss0 / 1048576).toFixed(0)} MB at the start, ${(rssMax / 1048576).toFixed(0)} MB at most`);
      } finally {
        good.disconnect();
        raw.sock.destroy();
      }

      // Both clients gone: the descriptors come back, the server answers.
      let fds = fdCount(pid);
      for (let i = 0; i < 30 && fds > fds0 + 2; i++) {
        await sleep(100);
        fds = fdCount(pid);
      }
      assert.ok(fds <= fds0 + 2, `file descriptors back near ${fds0}: ${fds}`);
      await healthz(h);
    });
});
