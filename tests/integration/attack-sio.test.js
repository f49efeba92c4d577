'use strict';
// Attacks on the Socket.IO layer (SPEC 11.21, 11.22, 11.25), with the npm socket.io-client
// and raw Engine.IO/Socket.IO packets where a real client would never send them:
//   - connection state recovery is authenticated first and restores a session only to the
//     user and token that owned it (no token, a bad, revoked or foreign token get a fresh
//     connection or a refusal, never the missed events), and a session is restored once;
//   - logout and expiry of a token disconnect the sockets opened with it;
//   - a binary packet before CONNECT, and attachments past maxPayload, close the connection.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { io } = require('socket.io-client');
const WebSocket = require('ws');
const { start, sampleOrder, cli } = require('../lib/harness');
const { shutdown, connected, next, postOrder, escapeRe, sleep } = require('../lib/wait');

const WAIT = 8000; // ms: the longest any single expected event may take (ASan build included)
const QUIET = 700; // ms a socket is watched for an event that must not arrive

const clients = new Set();

function client(h, { token, autoConnect = true, ...opts } = {}) {
  const socket = io(h.url, {
    forceNew: true,
    reconnection: false,
    transports: ['websocket'],
    autoConnect,
    ...(token === undefined ? {} : { auth: { token } }),
    ...opts,
  });
  clients.add(socket);
  return socket;
}

function closeClients() {
  for (const s of clients) s.disconnect();
  clients.clear();
}

function record(socket) {
  const seen = [];
  socket.onAny((event, data) => seen.push({ event, data }));
  return seen;
}

/** Waits (bounded) until `seen` holds an event for invoice `inv`. */
async function seenWithin(seen, inv, ms = WAIT) {
  for (let waited = 0; waited < ms && !invoicesOf(seen).includes(inv); waited += 50) await sleep(50);
}

const invoicesOf = (seen) => seen.filter((e) => e.data && e.data.invoice_number).map((e) => e.data.invoice_number);

/**
 * A victim with `token` connects, sees one order (so it has an offset), and its transport
 * goes away (a recoverable disconnect). Then an order is posted while it is away.
 * Returns {victim, pid, offset, missed}.
 */
async function victimAway(h, token, poster = h.tokens.kasir1) {
  const victim = client(h, { token });
  await connected(victim);
  const first = next(victim, 'new-order');
  await postOrder(h, poster);
  await first;
  const id = victim.id;
  assert.ok(victim._pid, 'recovery is on: the server gave a pid');
  const gone = next(victim, 'disconnect');
  victim.io.engine.close();
  await gone;
  await h.waitForLog(new RegExp(`Client disconnected: ${escapeRe(id)}`));
  const missed = await postOrder(h, poster);
  return { victim, id, pid: victim._pid, offset: victim._lastOffset, missed };
}

/** A client that presents someone else's pid and offset (what a thief would send). */
function thief(h, auth, pid, offset) {
  const s = client(h, { autoConnect: false, ...(auth === undefined ? {} : { token: auth }) });
  s._pid = pid;
  s._lastOffset = offset;
  return s;
}

/** Connects `s`; resolves {ok:true} or {ok:false, err}. */
async function attempt(s) {
  try {
    s.connect();
    await connected(s);
    return { ok: true };
  } catch (err) {
    return { ok: false, err };
  }
}

// ---- raw Engine.IO over WebSocket ------------------------------------------------------

function rawWs(h) {
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/socket.io/?EIO=4&transport=websocket`);
  const msgs = [];
  const waiters = [];
  ws.closed = new Promise((resolve) => ws.on('close', () => resolve(true)));
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? data : data.toString();
    if (m === '2') { ws.send('3'); return; } // answer pings
    msgs.push(m);
    for (const w of [...waiters]) w();
  });
  ws.nextMsg = (pred, ms = WAIT) => new Promise((resolve, reject) => {
    const check = () => {
      const i = msgs.findIndex(pred);
      if (i < 0) return false;
      const [m] = msgs.splice(i, 1);
      cleanup();
      resolve(m);
      return true;
    };
    const t = setTimeout(() => { cleanup(); reject(new Error('timed out waiting for a message')); }, ms);
    function cleanup() {
      clearTimeout(t);
      const k = waiters.indexOf(check);
      if (k >= 0) waiters.splice(k, 1);
    }
    if (!check()) waiters.push(check);
  });
  ws.opened = new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  return ws;
}

/** Resolves true when `ws` closes within ms, false otherwise. */
function closesWithin(ws, ms) {
  return Promise.race([ws.closed, sleep(ms).then(() => false)]);
}

// ---- tokens --------------------------------------------------------------------------------

const hashOf = (token) => crypto.createHash('sha256').update(token).digest('hex');
const HAVE_SQLITE = spawnSync('sqlite3', ['-version']).status === 0;

function sqlite(db, sql) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 5000', db, sql], { encoding: 'utf8', timeout: 15000 });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return r.stdout;
}

// ---- recovery is authenticated (SPEC 11.21) ----------------------------------------------

describe('connection state recovery needs the owner\'s token (--ws-auth on)', () => {
  let h;
  before(async () => { h = await start({ wsAuth: 'on' }); });
  after(async () => { closeClients(); await shutdown(h); });

  it('no token: refused, the missed order is not replayed; the owner still recovers afterwards', async () => {
    const v = await victimAway(h, h.tokens.dapur1);
    const t = thief(h, undefined, v.pid, v.offset);
    const seen = record(t);
    const r = await attempt(t);
    assert.equal(r.ok, false, 'a CONNECT without a token is refused even with a pid');
    assert.equal(r.err.message, 'unauthorized');
    await sleep(QUIET);
    assert.deepStrictEqual(invoicesOf(seen), [], 'nothing was replayed to the client without a token');

    // The failed attempt did not consume the owner's session.
    const vseen = record(v.victim);
    v.victim.connect();
    await connected(v.victim);
    assert.equal(v.victim.recovered, true, 'the owner recovers');
    assert.equal(v.victim.id, v.id);
    await seenWithin(vseen, v.missed.invoice_number);
    assert.ok(invoicesOf(vseen).includes(v.missed.invoice_number), 'the owner gets the missed order');
  });

  it('a bad token with the pid: refused, nothing replayed', async () => {
    const v = await victimAway(h, h.tokens.dapur1);
    const t = thief(h, 'not-a-token-at-all', v.pid, v.offset);
    const seen = record(t);
    const r = await attempt(t);
    assert.equal(r.ok, false);
    assert.equal(r.err.message, 'unauthorized');
    await sleep(QUIET);
    assert.deepStrictEqual(invoicesOf(seen), []);
  });

  it('another user\'s token of the same outlet: a fresh connection, no replay', async () => {
    const v = await victimAway(h, h.tokens.dapur1);
    const t = thief(h, h.tokens.kasir1, v.pid, v.offset);
    const seen = record(t);
    const r = await attempt(t);
    assert.equal(r.ok, true, 'a valid token connects');
    assert.equal(t.recovered, false, 'but does not recover someone else\'s session');
    assert.notEqual(t.id, v.id, 'with a new socket id');
    await sleep(QUIET);
    assert.ok(!invoicesOf(seen).includes(v.missed.invoice_number), 'the victim\'s missed order is not replayed');
  });

  it('another outlet\'s token: a fresh connection in its own outlet, no replay and no later outlet-1 events', async () => {
    const v = await victimAway(h, h.tokens.dapur1);
    const t = thief(h, h.tokens.dapur2, v.pid, v.offset);
    const seen = record(t);
    const r = await attempt(t);
    assert.equal(r.ok, true);
    assert.equal(t.recovered, false);
    // Outlet 1's order must not arrive; outlet 2's does (it is live in its own room).
    const own = next(t, 'new-order', (o) => o.outlet_id === 2);
    await postOrder(h, h.tokens.kasir1);
    const o2 = await postOrder(h, h.tokens.kasir2);
    assert.equal((await own).invoice_number, o2.invoice_number);
    await sleep(QUIET);
    assert.deepStrictEqual(invoicesOf(seen), [o2.invoice_number], 'only outlet 2\'s order reached the outlet-2 token');
  });

  it('a revoked (logged out) token with its own pid: refused, nothing replayed', async () => {
    const token = await h.login('dapur1', 'kitchen-secret');
    const v = await victimAway(h, token);
    const out = await h.api('POST', '/api/v1/auth/logout', { token });
    assert.equal(out.status, 204);
    const t = thief(h, token, v.pid, v.offset);
    const seen = record(t);
    const r = await attempt(t);
    assert.equal(r.ok, false, 'a revoked token does not connect, pid or not');
    await sleep(QUIET);
    assert.deepStrictEqual(invoicesOf(seen), []);
  });

  it('a session is restored once: a second CONNECT with the same pid is a fresh connection', async () => {
    const v = await victimAway(h, h.tokens.dapur1);
    const pid = v.pid;
    const offset = v.offset;
    v.victim.connect();
    await connected(v.victim);
    assert.equal(v.victim.recovered, true);
    const t = thief(h, h.tokens.dapur1, pid, offset);
    const seen = record(t);
    const r = await attempt(t);
    assert.equal(r.ok, true);
    assert.equal(t.recovered, false, 'the pid was consumed by the first restore');
    assert.notEqual(t.id, v.id);
    await sleep(QUIET);
    assert.ok(!invoicesOf(seen).includes(v.missed.invoice_number), 'no second replay');
  });
});

describe('connection state recovery with --ws-auth off', () => {
  let h;
  before(async () => { h = await start({ wsAuth: 'off' }); });
  after(async () => { closeClients(); await shutdown(h); });

  it('an anonymous owner recovers its own session', async () => {
    const v = await victimAway(h, undefined);
    const seen = record(v.victim);
    v.victim.connect();
    await connected(v.victim);
    assert.equal(v.victim.recovered, true);
    assert.equal(v.victim.id, v.id);
    await seenWithin(seen, v.missed.invoice_number);
    assert.ok(invoicesOf(seen).includes(v.missed.invoice_number), 'the owner gets the missed order');
  });

  it('an anonymous client cannot take over a token holder\'s session', async () => {
    const v = await victimAway(h, h.tokens.dapur1);
    const t = thief(h, undefined, v.pid, v.offset);
    const seen = record(t);
    const r = await attempt(t);
    assert.equal(r.ok, true, 'anonymous clients connect with --ws-auth off');
    assert.equal(t.recovered, false);
    await sleep(QUIET);
    assert.ok(!invoicesOf(seen).includes(v.missed.invoice_number));
  });
});

// ---- logout and expiry disconnect (SPEC 11.22) -------------------------------------------

describe('logout and expiry disconnect the sockets of the token', () => {
  let h;
  before(async () => { h = await start({ wsAuth: 'on' }); });
  after(async () => { closeClients(); await shutdown(h); });

  it('logout disconnects the socket opened with that token ("io server disconnect"); another token\'s stays', async () => {
    const a = await h.login('dapur1', 'kitchen-secret');
    const b = await h.login('dapur1', 'kitchen-secret');
    const sa = client(h, { token: a });
    const sb = client(h, { token: b });
    await Promise.all([connected(sa), connected(sb)]);
    const gone = next(sa, 'disconnect', () => true, 3000);
    const r = await h.api('POST', '/api/v1/auth/logout', { token: a });
    assert.equal(r.status, 204);
    assert.equal(await gone, 'io server disconnect');
    assert.equal(sb.connected, true, 'the other token\'s socket stays');
    const live = next(sb, 'new-order');
    const o = await postOrder(h, h.tokens.kasir1);
    assert.equal((await live).invoice_number, o.invoice_number);
  });

  it('a token that expires disconnects its socket at the expiry instant', { skip: !HAVE_SQLITE && 'no sqlite3 CLI' }, async () => {
    // A device token with a TTL (days), then its expiry moved to a few seconds from now
    // in the database, before the server ever saw (and cached) it.
    const out = cli(h.target, h.db, ['token', 'dapur1', '--ttl', '1']).trim().split('\n');
    const token = out[out.length - 1].trim();
    const expiresAt = Date.now() + 2500;
    sqlite(h.db, `UPDATE tokens SET expires_at = ${expiresAt} WHERE token_hash = '${hashOf(token)}';`);
    const s = client(h, { token });
    const other = client(h, { token: h.tokens.dapur1 });
    await Promise.all([connected(s), connected(other)]);
    assert.ok(Date.now() < expiresAt, 'connected before the expiry');
    const reason = await next(s, 'disconnect', () => true, WAIT);
    assert.equal(reason, 'io server disconnect');
    assert.ok(Date.now() >= expiresAt - 50, `not disconnected before the expiry (${expiresAt - Date.now()} ms early)`);
    assert.equal(other.connected, true, 'a token without expiry stays');
    // And it cannot come back.
    const again = client(h, { token });
    await assert.rejects(connected(again), /unauthorized/);
  });
});

// ---- binary packets (SPEC 11.25) ------------------------------------------------------------

describe('binary attachments are bounded', () => {
  let h;
  before(async () => { h = await start({ wsAuth: 'off' }); });
  after(async () => { closeClients(); await shutdown(h); });

  it('a binary event before CONNECT closes the connection', async () => {
    const ws = rawWs(h);
    await ws.opened;
    await ws.nextMsg((m) => typeof m === 'string' && m.startsWith('0{'));
    ws.send('451-["x",{"_placeholder":true,"num":0}]');
    assert.equal(await closesWithin(ws, WAIT), true, 'the server closed the connection');
    ws.terminate();
  });

  it('a binary ack before CONNECT closes the connection too', async () => {
    const ws = rawWs(h);
    await ws.opened;
    await ws.nextMsg((m) => typeof m === 'string' && m.startsWith('0{'));
    ws.send('461-3[{"_placeholder":true,"num":0}]');
    assert.equal(await closesWithin(ws, WAIT), true);
    ws.terminate();
  });

  it('pending attachments past maxPayload close the connection; the server stays up', async () => {
    const ws = rawWs(h);
    await ws.opened;
    await ws.nextMsg((m) => typeof m === 'string' && m.startsWith('0{'));
    ws.send('40');
    await ws.nextMsg((m) => typeof m === 'string' && m.startsWith('40{'));
    const ph = Array.from({ length: 9 }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(',');
    ws.send(`459-["x",${ph}]`);
    const chunk = Buffer.alloc(600 * 1000, 7); // each under maxPayload (1 MB), two over it
    for (let i = 0; i < 3 && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(chunk);
      await sleep(50);
    }
    assert.equal(await closesWithin(ws, WAIT), true, 'closed once 1.2 MB of attachments were pending');
    ws.terminate();
    const r = await h.api('GET', '/healthz');
    assert.equal(r.status, 200);
  });

  it('attachments within maxPayload are still delivered (a full binary packet works)', async () => {
    const ws = rawWs(h);
    await ws.opened;
    await ws.nextMsg((m) => typeof m === 'string' && m.startsWith('0{'));
    ws.send('40');
    await ws.nextMsg((m) => typeof m === 'string' && m.startsWith('40{'));
    ws.send('452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    ws.send(Buffer.alloc(300 * 1000, 1));
    ws.send(Buffer.alloc(300 * 1000, 2));
    ws.send('42["ping-after"]');
    assert.equal(await closesWithin(ws, QUIET), false, 'a packet within the limit does not close');
    ws.close();
  });
});
