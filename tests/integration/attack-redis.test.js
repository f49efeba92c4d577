'use strict';
// A hostile publisher on Redis against our answers on the request channel
// (server/cluster/redis_adapter.c, SCALEOUT 1.4). A fake Redis (RESP over TCP, written here)
// takes the server's two connections; it reads every PUBLISH but never answers one, as a
// stalled Redis does, while it pushes requests on the request channel whose answers echo a
// 900 kB requestId. Our answers must count against the same in-flight limit as our own
// broadcasts (64 MiB unanswered), or a flood of requests makes the server hold (and send)
// without bound. Also: requests with 1e6 rooms/except entries, unknown types, and a type-7
// BROADCAST to another outlet's room are answered without a crash and within the limits.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { start } = require('../lib/harness');
const { waitFor } = require('../tui/tui-lib');
const { io } = require('socket.io-client');
const msgpack = require('notepack.io');

/** A minimal RESP server: client commands are arrays of bulk strings. Bulks over 1 kB are
 * skipped, not kept (their length stands in for them). onCommand(conn, args). */
function fakeRedis(onCommand) {
  const conns = [];
  const server = net.createServer((sock) => {
    const conn = { sock, role: null };
    conns.push(conn);
    let buf = Buffer.alloc(0);
    let n = -1; let args = []; let skip = 0; let skipLen = 0;
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        if (skip > 0) {
          const k = Math.min(skip, buf.length);
          skip -= k; buf = buf.subarray(k);
          if (skip > 0) return;
          args.push(skipLen);
        } else {
          const eol = buf.indexOf('\r\n');
          if (eol < 0) return;
          const line = buf.subarray(0, eol).toString('latin1');
          if (n < 0) {
            assert.equal(line[0], '*', `an array: ${line}`);
            n = Number(line.slice(1)); args = [];
            buf = buf.subarray(eol + 2);
          } else {
            const len = Number(line.slice(1));
            if (len > 1024) {
              buf = buf.subarray(eol + 2); skip = len + 2; skipLen = len;
              continue;
            }
            if (buf.length < eol + 2 + len + 2) return;
            args.push(buf.subarray(eol + 2, eol + 2 + len).toString('latin1'));
            buf = buf.subarray(eol + 2 + len + 2);
          }
        }
        if (n >= 0 && args.length === n) {
          const a = args; n = -1; args = [];
          onCommand(conn, a);
        }
      }
    });
  });
  const bulk = (s) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]); };
  return {
    server, conns,
    push(conn, kind, ...parts) {
      conn.sock.write(Buffer.concat([Buffer.from(`*${parts.length + 1}\r\n`), bulk(kind), ...parts.map(bulk)]));
    },
    listen: () => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port))),
    close() { for (const c of conns) c.sock.destroy(); return new Promise((r) => server.close(r)); },
  };
}

async function setup() {
  const got = { answers: [], publishes: 0, publishBytes: 0, channels: new Set(), sub: null };
  const redis = fakeRedis((conn, a) => {
    const cmd = String(a[0]).toUpperCase();
    if (cmd === 'PING') { conn.role = 'pub'; conn.sock.write('+PONG\r\n'); } else if (cmd === 'PSUBSCRIBE') {
      conn.role = 'sub'; got.sub = conn; conn.sock.write(`*3\r\n$10\r\npsubscribe\r\n$${a[1].length}\r\n${a[1]}\r\n:1\r\n`);
    } else if (cmd === 'SUBSCRIBE') {
      got.reqChannel = a[1]; conn.sock.write(`*3\r\n$9\r\nsubscribe\r\n$${a[1].length}\r\n${a[1]}\r\n:2\r\n`);
    } else if (cmd === 'PUBLISH') {
      got.publishes++; got.publishBytes += typeof a[2] === 'number' ? a[2] : a[2].length; got.channels.add(a[1]);
      got.last = a[2]; if (typeof a[2] === 'string') got.answers.push(a[2]);
      // never answered: a stalled Redis
    } else { conn.sock.write('-ERR unknown\r\n'); }
  });
  const port = await redis.listen();
  const h = await start({ args: ['--redis', `redis://127.0.0.1:${port}`] });
  await h.waitForLog(/redis: publishing/, 10000);
  await waitFor(() => got.sub && got.reqChannel, { what: 'the server subscribed' });
  return { h, redis, got };
}

test('a request flood while Redis answers no PUBLISH: our answers stop at the in-flight limit', async () => {
  const { h, redis, got } = await setup();
  try {
    const big = 'x'.repeat(900000);
    const N = 100; // 90 MB of answers: over the 64 MiB in-flight limit
    for (let i = 0; i < N; i++) {
      redis.push(got.sub, 'message', got.reqChannel,
        JSON.stringify({ uid: 'hostile', type: 0, requestId: `${i}${big}`, rooms: [], except: [] }));
    }
    const limited = () => h.logs.some((l) => /redis: .*not keeping up/.test(l));
    await waitFor(() => limited() || got.publishes === N, { what: 'the limit or every answer', timeout: 20000 });
    assert.ok(got.publishes < N, `${got.publishes} answers of ${N} held unanswered (${got.publishBytes} bytes)`);
    assert.ok(limited(), 'logged');
    // what was already in the socket buffers when the limit was logged still arrives: wait
    // until the count settles (no new answer for 500 ms), then nothing more may trickle out
    let seen = -1;
    await waitFor(async () => {
      const before = got.publishes;
      await new Promise((res) => setTimeout(res, 500));
      seen = got.publishes;
      return seen === before;
    }, { what: 'the answers to stop', timeout: 15000 });
    const r = await h.api('GET', '/healthz');
    assert.equal(r.status, 200, 'the server is still serving');
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(got.publishes, seen, 'no answer after the limit');
    assert.ok(got.publishBytes <= (64 << 20) + 1000000, `at most 64 MiB + one answer unanswered: ${got.publishBytes}`);
    assert.ok(got.publishes < N, `${got.publishes} answers of ${N}`);
  } finally {
    await h.cleanup();
    await redis.close();
  }
});

test('requests with 30,000 rooms and excepts each (all a 1 MB message holds), other outlets\' rooms, odd types: bounded answers, no crash', async () => {
  const { h, redis, got } = await setup();
  try {
    const many = Array.from({ length: 30000 }, (_, i) => `outlet:${i}`);
    const reqs = [
      { uid: 'hostile', type: 0, requestId: 'r0', rooms: many, except: many },
      { uid: 'hostile', type: 5, requestId: 'r5', opts: { rooms: many, except: many } },
      { uid: 'hostile', type: 1, requestId: 'r1' },
      { uid: 'hostile', type: 6, requestId: 'r6', data: [1] },
      { uid: 'hostile', type: 1e308, requestId: 'big' },
      { uid: 'hostile', type: -1, requestId: 'neg' },
      { uid: 'hostile', type: 0, requestId: 7 },
      { uid: 'hostile', type: 0 },
    ];
    for (const q of reqs) redis.push(got.sub, 'message', got.reqChannel, JSON.stringify(q));
    redis.push(got.sub, 'message', got.reqChannel, '{"type":0,"requestId":"' + '['.repeat(100000));
    redis.push(got.sub, 'message', got.reqChannel, Buffer.alloc(2000, 0x93).toString('latin1'));
    await waitFor(() => got.publishes >= 2, { what: 'the two answers owed (1, 6)', describe: () => `publishes ${got.publishes} ${got.last}\n${h.logs.slice(-10).join('\n')}` });
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(got.publishes, 2, 'nothing answered for the odd ones, nor for 30,000 rooms (over the 256 of a broadcast)');
    assert.deepEqual(got.answers.map((a) => JSON.parse(a).requestId).sort(), ['r1', 'r6']);
    const r = await h.api('GET', '/healthz');
    assert.equal(r.status, 200);
  } finally {
    await h.cleanup();
    await redis.close();
  }
});

test('an except list over 256 rooms is refused, not cut: no answer names a socket it excluded', async () => {
  const { h, redis, got } = await setup();
  const sock = io(h.url, { transports: ['websocket'], auth: { token: h.tokens.dapur1 }, reconnection: false });
  try {
    await new Promise((res, rej) => { sock.on('connect', res); sock.on('connect_error', rej); });
    const ask = (requestId, except) => redis.push(got.sub, 'message', got.reqChannel,
      JSON.stringify({ uid: 'hostile', type: 0, requestId, rooms: [], except }));
    ask('all', []);
    await waitFor(() => got.answers.length === 1, { what: 'the answer to a plain SOCKETS request' });
    const all = JSON.parse(got.answers[0]);
    assert.equal(all.sockets.length, 1, got.answers[0]);
    const mine = all.sockets[0];
    const filler = Array.from({ length: 256 }, (_, i) => `nobody:${i}`);
    ask('except-256', [...filler.slice(1), 'outlet:1']); // 256 entries: honoured
    ask('except-257', [...filler, 'outlet:1']); // 257: the socket was excluded, at the end
    await h.waitForLog(/redis: dropped a message .*over a limit \(rooms\)/, 5000);
    await new Promise((res) => setTimeout(res, 300));
    const byId = Object.fromEntries(got.answers.map((a) => JSON.parse(a)).map((a) => [a.requestId, a]));
    assert.deepEqual(byId['except-256'].sockets, [], 'outlet:1 excluded');
    assert.equal(byId['except-257'], undefined, `no answer with ${mine} in it`);
  } finally {
    sock.close();
    await h.cleanup();
    await redis.close();
  }
});

test('a flood of type-7 BROADCAST requests to a screen that never acks: acks owed stop at 1000 a socket', async () => {
  const { h, redis, got } = await setup();
  const quiet = io(h.url, { transports: ['websocket'], auth: { token: h.tokens.dapur1 }, reconnection: false });
  let received = 0;
  quiet.onAny(() => { received++; }); // onAny never acks
  try {
    await new Promise((res, rej) => { quiet.on('connect', res); quiet.on('connect_error', rej); });
    const N = 1100;
    for (let i = 0; i < N; i++) {
      redis.push(got.sub, 'message', got.reqChannel, msgpack.encode({ uid: 'hostile', requestId: `b${i}`, type: 7,
        packet: { type: 2, data: ['hostile-event', i], nsp: '/' }, opts: { rooms: [], except: [], flags: {} } }));
    }
    await waitFor(() => got.answers.length >= N, { what: `${N} type-8 answers`, timeout: 15000,
      describe: () => `${got.answers.length} answers` });
    const counts = got.answers.map((a) => JSON.parse(a)).filter((a) => a.type === 8).map((a) => a.clientCount);
    assert.equal(counts.length, N);
    assert.equal(counts.reduce((x, y) => x + y, 0), 1000, 'the socket took 1000 emits with an ack, then no more');
    await waitFor(() => received >= 1000, { what: 'the 1000 events delivered' });
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(received, 1000);
    assert.ok(quiet.connected, 'the screen is still connected');
  } finally {
    quiet.close();
    await h.cleanup(); // exit 0 under ASan: the 1000 owed acks freed at the socket's end
    await redis.close();
  }
});
