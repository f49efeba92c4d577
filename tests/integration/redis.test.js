'use strict';
// --redis (SPEC 9, SCALEOUT.md 1): two kds-server processes and a Node socket.io 4.8 server
// with @socket.io/redis-adapter 8.3 share one throwaway redis-server on a free loopback
// port, with @socket.io/redis-emitter 5.1 beside them. Every broadcast reaches the clients of
// all three, exactly once and only in its rooms; socket ids behave as rooms; garbage,
// foreign and oversized messages on our channel are dropped and counted in /metrics while
// delivery goes on; a Redis restart is a counted gap after which the servers subscribe again.
// Each kds-server has its own SQLite file (a shared PostgreSQL is not part of this test), so
// orders are told apart by their note, not their invoice number.
//
// Skipped, with the reason, when redis-server is not installed (Debian: redis-server;
// scripts/deps.sh --tests installs it).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { io: ioc } = require('socket.io-client');
const { start, sampleOrder, freePort } = require('../lib/harness');
const { WAIT, sleep, next, postOrder, shutdown, connected, withTimeout } = require('../lib/wait');

const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const SKIP = HAVE_REDIS ? false : 'redis-server is not installed (Debian package redis-server)';

/** A redis-server on 127.0.0.1:port in `dir`, nothing persisted. The pub/sub output limit
 * is off so that the 100 MB message really reaches the subscribers (with Redis's default,
 * `pubsub 32mb 8mb 60`, Redis disconnects every subscriber instead: a gap, tested below). */
async function redisStart(port, dir) {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly',
    'no', '--dir', dir, '--client-output-buffer-limit', 'pubsub 0 0 0'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 15000);
    const on = (c) => {
      out += c;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    proc.stdout.on('data', on);
    proc.stderr.on('data', on);
    proc.on('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
  });
  proc.exited = new Promise((resolve) => proc.on('exit', resolve));
  return proc;
}

async function metric(h, name) {
  const r = await h.api('GET', '/metrics');
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(r.text);
  return m ? Number(m[1]) : NaN;
}

/** Every event a socket receives: [{event, data}]. */
function record(socket) {
  const seen = [];
  socket.onAny((event, data) => seen.push({ event, data }));
  return seen;
}

const count = (seen, event, pred) => seen.filter((e) => e.event === event && pred(e.data)).length;
const byNote = (note) => (o) => o && o.note === note;
const byMark = (mark) => (o) => o && o.mark === mark;

describe('Redis adapter (classic @socket.io/redis-adapter wire format)', { skip: SKIP }, () => {
  let dir, port, url, redis, A, B, nodeHttp, nodeIo, pub, sub, emitter, nodeUrl;
  const sockets = [];
  let a1, b1, a2, b2, n1, n2; // a/b: our servers A and B; n: the Node server; 1/2: the outlet
  let seen = {};

  function client(base, auth, transports = ['websocket']) {
    const s = ioc(base, { forceNew: true, reconnection: false, transports, auth });
    sockets.push(s);
    return s;
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-redis-'));
    port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    redis = await redisStart(port, dir);

    const args = ['--redis', url, '--order-rate', '0'];
    [A, B] = await Promise.all([start({ args }), start({ args })]);
    await Promise.all([A.waitForLog(/redis: subscribed to socket\.io#\/#\*/, WAIT),
      B.waitForLog(/redis: subscribed to socket\.io#\/#\*/, WAIT),
      A.waitForLog(/redis: publishing/, WAIT), B.waitForLog(/redis: publishing/, WAIT)]);

    // The Node peer: socket.io 4.8 + @socket.io/redis-adapter 8.3 on node-redis, its sockets
    // in outlet:<auth.outlet> as ours are.
    const { createClient } = require('redis');
    const { Server } = require('socket.io');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const { Emitter } = require('@socket.io/redis-emitter');
    pub = createClient({ url });
    sub = pub.duplicate();
    // A message it cannot decode surfaces as the client's 'error' (SCALEOUT 7.8): expected here.
    for (const c of [pub, sub]) c.on('error', () => {});
    await Promise.all([pub.connect(), sub.connect()]);
    nodeHttp = http.createServer();
    nodeIo = new Server(nodeHttp);
    nodeIo.adapter(createAdapter(pub, sub));
    nodeIo.on('connection', (s) => s.join(`outlet:${s.handshake.auth.outlet}`));
    await new Promise((resolve) => nodeHttp.listen(0, '127.0.0.1', resolve));
    nodeUrl = `http://127.0.0.1:${nodeHttp.address().port}`;
    emitter = new Emitter(pub);

    a1 = client(A.url, { token: A.tokens.dapur1 }, ['polling', 'websocket']); // polling, then the upgrade
    b1 = client(B.url, { token: B.tokens.dapur1 });
    a2 = client(A.url, { token: A.tokens.dapur2 });
    b2 = client(B.url, { token: B.tokens.dapur2 });
    n1 = client(nodeUrl, { outlet: 1 });
    n2 = client(nodeUrl, { outlet: 2 });
    await Promise.all([a1, b1, a2, b2, n1, n2].map((s) => connected(s)));
    seen = { a1: record(a1), b1: record(b1), a2: record(a2), b2: record(b2), n1: record(n1), n2: record(n2) };
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    if (nodeIo) await new Promise((resolve) => nodeIo.close(() => resolve()));
    await sleep(100); // the adapter's PUNSUBSCRIBE goes out before the clients close
    for (const c of [pub, sub]) {
      if (!c) continue;
      try {
        await withTimeout(c.close ? c.close() : c.quit(), 3000, 'redis client close');
      } catch {
        try { c.destroy(); } catch { /* already gone */ }
      }
    }
    await Promise.all([shutdown(A), shutdown(B)]);
    if (redis && redis.exitCode === null) {
      redis.kill('SIGTERM');
      await redis.exited;
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an order POSTed to either server reaches a client of each server and of the Node server, once', async () => {
    const waits = ['a1', 'b1', 'n1'].flatMap((k) => [
      next({ a1, b1, n1 }[k], 'new-order', byNote('from-A')),
      next({ a1, b1, n1 }[k], 'new-order', byNote('from-B')),
    ]);
    await postOrder(A, A.tokens.kasir1, sampleOrder(undefined, { note: 'from-A' }));
    await postOrder(B, B.tokens.kasir1, sampleOrder(undefined, { note: 'from-B' }));
    await Promise.all(waits);
    await sleep(500); // anything doubled would have come by now
    for (const k of ['a1', 'b1', 'n1'])
      for (const note of ['from-A', 'from-B'])
        assert.equal(count(seen[k], 'new-order', byNote(note)), 1, `${k} got ${note} once`);
    for (const k of ['a2', 'b2', 'n2'])
      assert.equal(count(seen[k], 'new-order', (o) => o && /^from-/.test(o.note || '')), 0, `${k} (outlet 2) got none`);
    assert.ok((await metric(A, 'kds_redis_published_total')) >= 1);
    assert.ok((await metric(B, 'kds_redis_received_total')) >= 1);
  });

  it("the Node server's io.to('outlet:1').emit reaches our outlet-1 clients once, and not outlet 2's", async () => {
    const waits = [a1, b1, n1].map((s) => next(s, 'new-order', byMark('node-1')));
    nodeIo.to('outlet:1').emit('new-order', { mark: 'node-1', invoice_number: 'NODE-0001' });
    await Promise.all(waits);
    await sleep(500);
    for (const k of ['a1', 'b1', 'n1']) assert.equal(count(seen[k], 'new-order', byMark('node-1')), 1, k);
    for (const k of ['a2', 'b2', 'n2']) assert.equal(count(seen[k], 'new-order', byMark('node-1')), 0, k);
  });

  it('an @socket.io/redis-emitter message reaches the clients of every server, once', async () => {
    const waits = [a1, b1, n1].map((s) => next(s, 'new-order', byMark('emitter-1')));
    emitter.to('outlet:1').emit('new-order', { mark: 'emitter-1', lines: [{ qty: 2, price: 1.5 }], rush: true });
    const got = await Promise.all(waits);
    assert.deepEqual(got[0], { mark: 'emitter-1', lines: [{ qty: 2, price: 1.5 }], rush: true });
    await sleep(500);
    for (const k of ['a1', 'b1', 'n1']) assert.equal(count(seen[k], 'new-order', byMark('emitter-1')), 1, k);
    for (const k of ['a2', 'b2', 'n2']) assert.equal(count(seen[k], 'new-order', byMark('emitter-1')), 0, k);
    // all rooms (io.emit): every client of every server
    const all = [a1, b1, a2, b2, n1, n2].map((s) => next(s, 'notice', byMark('all')));
    emitter.emit('notice', { mark: 'all' });
    await Promise.all(all);
  });

  it('socket ids behave as rooms: to(sid) and except(sid) from the Node server', async () => {
    const direct = next(a2, 'direct', byMark('sid'));
    nodeIo.to(a2.id).emit('direct', { mark: 'sid' });
    await direct;
    const waits = [a1, n1].map((s) => next(s, 'new-order', byMark('except')));
    nodeIo.to('outlet:1').except(b1.id).emit('new-order', { mark: 'except' });
    await Promise.all(waits);
    await sleep(500);
    assert.equal(count(seen.b1, 'new-order', byMark('except')), 0, 'b1 was excepted');
    for (const k of ['a1', 'b1', 'b2', 'n1', 'n2']) assert.equal(count(seen[k], 'direct', () => true), 0, k);
    // volatile: still delivered to an idle WebSocket
    const vol = [a1, b1].map((s) => next(s, 'tick', byMark('volatile')));
    nodeIo.to('outlet:1').volatile.emit('tick', { mark: 'volatile' });
    await Promise.all(vol);
  });

  it("the request channel: Node's fetchSockets(), allRooms(), serverSideEmit and emitWithAck count our sockets", async () => {
    let t0 = Date.now();
    const found = await nodeIo.fetchSockets();
    assert.ok(Date.now() - t0 < 2000, `fetchSockets took ${Date.now() - t0} ms (its timeout is 5000)`);
    assert.deepEqual(found.map((s) => s.id).sort(), [a1, b1, a2, b2, n1, n2].map((s) => s.id).sort());
    const ra1 = found.find((s) => s.id === a1.id);
    assert.ok(ra1.rooms.has('outlet:1') && ra1.rooms.has(a1.id), `a1's rooms: ${[...ra1.rooms]}`);
    assert.deepEqual(ra1.handshake.auth, {}, 'no token leaves the server');
    const inRoom = await nodeIo.in('outlet:2').fetchSockets();
    assert.deepEqual(inRoom.map((s) => s.id).sort(), [a2, b2, n2].map((s) => s.id).sort());
    const rooms = await nodeIo.of('/').adapter.allRooms();
    for (const r of ['outlet:1', 'outlet:2', a1.id, b2.id]) assert.ok(rooms.has(r), `allRooms has ${r}`);
    t0 = Date.now();
    const replies = await new Promise((resolve, reject) => nodeIo.serverSideEmit('hello', 1,
      (err, res) => (err ? reject(err) : resolve(res))));
    assert.deepEqual(replies, [null, null], 'both kds-servers answered');
    // a broadcast with acks: every client of every server answers
    for (const [name, s] of Object.entries({ a1, b1, n1 })) s.on('ping-all', (x, cb) => cb(`pong-${name}`, 'extra'));
    const acks = await nodeIo.to('outlet:1').timeout(4000).emitWithAck('ping-all', { n: 1 });
    assert.deepEqual(acks.sort(), ['pong-a1', 'pong-b1', 'pong-n1']);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  });

  it('garbage, foreign and oversized messages on our channel are dropped and counted; delivery goes on', async () => {
    const before = [await metric(A, 'kds_redis_dropped_total'), await metric(B, 'kds_redis_dropped_total')];
    const bad = [
      Buffer.from('hello, not msgpack'),
      Buffer.from([0xc1]),
      // a streams-adapter-like map {uid, nsp, type: "3", data: {}}
      Buffer.concat([Buffer.from([0x84, 0xa3]), Buffer.from('uid'), Buffer.from([0xa4]), Buffer.from('abcd'),
        Buffer.from([0xa3]), Buffer.from('nsp'), Buffer.from([0xa1, 0x2f, 0xa4]), Buffer.from('type'),
        Buffer.from([0xa1, 0x33, 0xa4]), Buffer.from('data'), Buffer.from([0x80])]),
      // truncated: the 74-byte capture without its last byte
      Buffer.from('93a67170646b576d83a47479706502a46461746192a96e65772d6f7264657281a269642aa3'
        + '6e7370a12f83a5726f6f6d7391a86f75746c65743a31a665786365707490a5666c61677380', 'hex').subarray(0, 73),
      // JSON on the broadcast channel (only the request channel takes JSON)
      Buffer.from('{"uid":"x","type":2,"data":["new-order",{}]}'),
    ];
    for (const b of bad) await pub.publish('socket.io#/#', b);
    // and one of 100 MB: over the size limit (--max-payload, 1 MB by default). The server
    // does not buffer it whole: once 1 MB of it is in, it drops the subscription and
    // subscribes again (a counted drop and a counted gap), its memory bounded.
    const gaps = [await metric(A, 'kds_redis_gaps_total'), await metric(B, 'kds_redis_gaps_total')];
    const again = [A, B].map((h) => h.waitForLog(/redis: subscribed again/, 30000, { fromStart: false }));
    await pub.publish('socket.io#/#', Buffer.alloc(100 * 1024 * 1024, 0));
    // the loop is not stalled by it: both servers answer at once
    for (const h of [A, B]) {
      const t0 = Date.now();
      const r = await h.api('GET', '/healthz');
      assert.equal(r.status, 200);
      assert.ok(Date.now() - t0 < 2000, `/healthz took ${Date.now() - t0} ms while the 100 MB message arrived`);
    }
    const want = bad.length + 1;
    const deadline = Date.now() + 30000;
    let now;
    for (;;) {
      now = [await metric(A, 'kds_redis_dropped_total'), await metric(B, 'kds_redis_dropped_total')];
      if (now[0] - before[0] >= want && now[1] - before[1] >= want) break;
      if (Date.now() > deadline) break;
      await sleep(200);
    }
    assert.ok(now[0] - before[0] >= want && now[1] - before[1] >= want,
      `every bad message counted: A ${before[0]} -> ${now[0]}, B ${before[1]} -> ${now[1]}, want +${want}`);
    assert.ok(A.logs.some((l) => /redis: dropped a message on socket\.io#\/# .*over the size limit/.test(l)), 'logged');
    await Promise.all(again);
    assert.equal(await metric(A, 'kds_redis_gaps_total'), gaps[0] + 1, 'A: the oversized message cost one gap');
    assert.equal(await metric(B, 'kds_redis_gaps_total'), gaps[1] + 1, 'B: the oversized message cost one gap');
    // Our servers only: the Node peer's node-redis subscriber does not survive this batch
    // (its decode error is thrown inside the client, SCALEOUT 7.8), which is its problem.
    const waits = [a1, b1].map((s, i) => next(s, 'new-order', byNote('after-garbage'), 15000)
      .catch(() => { throw new Error(`${['a1', 'b1'][i]} did not get the order after the bad messages`); }));
    await postOrder(A, A.tokens.kasir1, sampleOrder(undefined, { note: 'after-garbage' }));
    await Promise.all(waits);
    assert.equal(await metric(A, 'kds_redis_subscribed'), 1, 'subscribed');
  });

  it('a Redis restart: the servers reconnect, subscribe again, count the gap, and later broadcasts arrive', async () => {
    const gaps = [await metric(A, 'kds_redis_gaps_total'), await metric(B, 'kds_redis_gaps_total')];
    const again = [A, B].map((h) => h.waitForLog(/redis: subscribed again/, 30000, { fromStart: false }));
    const pubAgain = [A, B].map((h) => h.waitForLog(/redis: publisher connected again/, 30000, { fromStart: false }));
    redis.kill('SIGTERM');
    await redis.exited;
    // An order while Redis is away: committed (201) and shown on A's own screen; B misses it
    // (the gap; displays resync over REST).
    const local = next(a1, 'new-order', byNote('during-outage'));
    await postOrder(A, A.tokens.kasir1, sampleOrder(undefined, { note: 'during-outage' }));
    await local;
    redis = await redisStart(port, dir);
    await Promise.all([...again, ...pubAgain]);
    assert.equal(await metric(A, 'kds_redis_gaps_total'), gaps[0] + 1, 'A counted one gap');
    assert.equal(await metric(B, 'kds_redis_gaps_total'), gaps[1] + 1, 'B counted one gap');
    assert.ok((await metric(A, 'kds_redis_publish_failures_total')) >= 1, 'the outage broadcast counted as not sent');
    const waits = [a1, b1].map((s) => next(s, 'new-order', byNote('after-restart')));
    await postOrder(B, B.tokens.kasir1, sampleOrder(undefined, { note: 'after-restart' }));
    await Promise.all(waits);
    assert.equal(count(seen.b1, 'new-order', byNote('during-outage')), 0, 'B missed the outage order (a gap)');
  });
});

// No redis-server needed: what the servers do when Redis is not there or does not speak.
describe('Redis unreachable or silent', () => {
  it('a refused port and a silent listener: retried with backoff, and orders are still 201 and shown locally', async () => {
    const silent = net.createServer(() => { /* accepts, never answers */ });
    await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const refusedPort = await freePort();
    const hs = await Promise.all([
      start({ args: ['--redis', `redis://127.0.0.1:${refusedPort}`] }),
      start({ args: ['--redis', `redis://127.0.0.1:${silent.address().port}`] }),
    ]);
    try {
      await hs[0].waitForLog(/redis: subscriber to 127\.0\.0\.1:\d+ not up \(Connection refused\)/, WAIT);
      // our own connect timeout: the TCP connect succeeds, no answer to PSUBSCRIBE / PING
      await hs[1].waitForLog(/redis: subscriber to 127\.0\.0\.1:\d+ not up \(timed out\)/, WAIT);
      await hs[1].waitForLog(/redis: publisher to 127\.0\.0\.1:\d+ not up \(timed out\)/, WAIT);
      for (const h of hs) {
        const s = ioc(h.url, { forceNew: true, reconnection: false, transports: ['websocket'],
          auth: { token: h.tokens.dapur1 } });
        try {
          await connected(s);
          const got = next(s, 'new-order', byNote('no-redis'));
          await postOrder(h, h.tokens.kasir1, sampleOrder(undefined, { note: 'no-redis' }));
          await got;
        } finally {
          s.disconnect();
        }
        assert.ok((await metric(h, 'kds_redis_publish_failures_total')) >= 1, 'the remote copy counted as not sent');
        assert.equal(await metric(h, 'kds_redis_subscribed'), 0);
      }
    } finally {
      await Promise.all(hs.map((h) => shutdown(h)));
      silent.close();
    }
  });
});
