'use strict';
// Socket.IO against real clients: the unmodified npm socket.io-client 4.x (polling then
// upgrade, WebSocket only, polling only), auth on CONNECT, the product events, order-status
// acknowledgements, outlet rooms, connection state recovery, 200 clients, a client that
// stops reading, CORS and the served client bundle.
//
// By default against our kds-server (KDS_SERVER_BIN); KDS_TARGET=node runs the same tests
// against the Node reference (../shared/bench/node-reference), which must pass them too.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { io } = require('socket.io-client');
const WebSocket = require('ws');
const { start, sampleOrder, SOURCE_DIR } = require('../lib/harness');
const { shutdown, connected, next, postOrder, escapeRe, withTimeout } = require('../lib/wait');

const WAIT = 8000; // ms: the longest any single expected event may take (ASan build included)

// ---- helpers -----------------------------------------------------------------

const clients = new Set(); // every client a test opens; closed in after()

/** A socket.io-client socket that never shares its Manager and never reconnects unless asked. */
function client(h, { token, ...opts } = {}) {
  const socket = io(h.url, {
    forceNew: true,
    reconnection: false,
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

/** Resolves with the connect_error the server answers with; rejects if it connects instead. */
function refused(socket, ms = WAIT) {
  return connected(socket, ms).then(
    () => { throw new Error(`connected (id ${socket.id}) although it should have been refused`); },
    (err) => err,
  );
}

const forInvoice = (inv) => (o) => o && o.invoice_number === inv;

/** Every event a socket receives, in arrival order: [{event, data}]. */
function record(socket) {
  const seen = [];
  socket.onAny((event, data) => seen.push({ event, data }));
  return seen;
}

/** emit with an acknowledgement, as a promise (socket.io-client's own timeout). */
const ack = (socket, event, payload) => socket.timeout(WAIT).emitWithAck(event, payload);

/** The same order, and its keys in the same order (SPEC 2 fixes the key order). */
function assertSameOrder(actual, expected) {
  assert.deepStrictEqual(actual, expected);
  assert.deepStrictEqual(Object.keys(actual), Object.keys(expected));
}

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool(items, n, fn) {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    while (queue.length) await fn(queue.shift());
  }));
}

// Three categories, a quantity of 2 and a note: enough to see the whole order shape.
const RICH_ORDER = sampleOrder(
  [{ product_id: 1, qty: 1 }, { product_id: 3, qty: 2 }, { product_id: 5, qty: 1 }, { product_id: 6, qty: 1 }],
  { note: 'no onion' },
);

// ---- the default server: --ws-auth on, cors * ------------------------------------

describe('socket.io-client against the server (--ws-auth on)', () => {
  let h;
  before(async () => { h = await start({ wsAuth: 'on' }); });
  after(async () => {
    closeClients();
    await shutdown(h);
  });

  it('serves /socket.io/socket.io.js and .min.js from the npm socket.io-client package', async () => {
    for (const name of ['socket.io.js', 'socket.io.min.js']) {
      const res = await fetch(`${h.url}/socket.io/${name}`);
      assert.equal(res.status, 200, name);
      assert.match(res.headers.get('content-type') || '', /javascript/, name);
      const body = await res.text();
      const expected = fs.readFileSync(path.join(SOURCE_DIR, 'node_modules', 'socket.io-client', 'dist', name), 'utf8');
      assert.ok(body === expected, `${name} differs from node_modules/socket.io-client/dist/${name} (${body.length} vs ${expected.length} bytes)`);
      assert.match(body.slice(0, 200), /Socket\.IO v4\./);
    }
  });

  it('default transports: connects over polling, upgrades to WebSocket, receives new-order', async () => {
    const s = client(h, { token: h.tokens.dapur1 });
    let first = null; // the transport of the Engine.IO handshake
    s.io.once('open', () => { first = s.io.engine.transport.name; });
    await connected(s);
    assert.equal(first, 'polling');
    // The seed's log line names the client by its socket id.
    await h.waitForLog(new RegExp(`Client connected: ${escapeRe(s.id)}`));
    if (s.io.engine.transport.name !== 'websocket') await next(s.io.engine, 'upgrade');
    assert.equal(s.io.engine.transport.name, 'websocket');
    const got = next(s, 'new-order');
    const order = await postOrder(h, h.tokens.kasir1, RICH_ORDER);
    assertSameOrder(await got, order);
  });

  it('orders posted while the transport upgrades arrive exactly once and in order', async () => {
    for (let round = 0; round < 6; round++) {
      const s = client(h, { token: h.tokens.dapur1 });
      const got = [];
      s.on('new-order', (o) => got.push(o.invoice_number));
      await connected(s);
      // Post at once: the upgrade (probe, pending GET released, switch) is usually still going on.
      const posted = [];
      const lanes = round % 2 ? 4 : 1;
      await Promise.all(Array.from({ length: lanes }, async () => {
        for (let i = 0; i < 20 / lanes; i++) posted.push((await postOrder(h, h.tokens.kasir1)).invoice_number);
      }));
      const last = posted.reduce((a, b) => (a > b ? a : b));
      if (!got.includes(last)) await next(s, 'new-order', (o) => o.invoice_number === last);
      // Broadcasts follow commit order, which is invoice order.
      assert.deepStrictEqual(got, [...posted].sort(), `round ${round}`);
      if (s.io.engine.transport.name !== 'websocket') await next(s.io.engine, 'upgrade');
      s.disconnect();
    }
  });

  it('WebSocket only: new-order deep-equals the POST response (every key, in order)', async () => {
    const s = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    await connected(s);
    assert.equal(s.io.engine.transport.name, 'websocket');
    const got = next(s, 'new-order');
    const order = await postOrder(h, h.tokens.kasir1, RICH_ORDER);
    const event = await got;
    assertSameOrder(event, order);
    // The order in its seed shape: categories with quantity/total/items, lines with exact qty.
    assert.match(event.invoice_number, /^INV-\d{8}-\d{4,}$/);
    assert.deepStrictEqual(event.BALUTAN, { quantity: 2, total_amount: 4000, items: ['Mie'] });
    assert.deepStrictEqual(event['SAUS ASIN'], { quantity: 2, total_amount: 2000, items: ['Saus Tomat', 'Mayonaise'] });
    assert.equal(event.total_amount, 6000 + 4000 + 1000 + 1000);
    assert.equal(event.note, 'no onion');
    assert.equal(event.status, 'new');
    assert.deepStrictEqual(event.lines.map((l) => [l.product_id, l.qty]), [[1, 1], [3, 2], [5, 1], [6, 1]]);
  });

  it('polling only: events (with UTF-8 text) arrive over long-polling, acks come back', async () => {
    const s = client(h, { token: h.tokens.dapur1, transports: ['polling'] });
    const w = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    await Promise.all([connected(s), connected(w)]);
    assert.equal(s.io.engine.transport.name, 'polling');
    // Multi-byte UTF-8 in a product name and the note: lengths in bytes, not characters.
    const cats = (await h.api('GET', '/api/v1/categories', { token: h.tokens.admin })).json;
    const p = await h.api('POST', '/api/v1/products', {
      token: h.tokens.admin, body: { name: 'Es Teh Manis 🍵 — ñ', price: 5000, category_id: cats[0].id },
    });
    assert.equal(p.status, 201, p.text);
    const got = next(s, 'new-order');
    const gotWs = next(w, 'new-order');
    const order = await postOrder(h, h.tokens.kasir1,
      sampleOrder([{ product_id: p.json.id, qty: 2 }, { product_id: 1, qty: 1 }], { note: 'tanpa bawang — pedas 🌶️ «x»' }));
    assertSameOrder(await got, order);
    assertSameOrder(await gotWs, order);
    assert.equal(order.lines[0].name, 'Es Teh Manis 🍵 — ñ');
    const reply = await ack(s, 'order-status', { invoice_number: order.invoice_number, status: 'preparing' });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.equal(reply.order.note, 'tanpa bawang — pedas 🌶️ «x»');
    assert.equal(s.io.engine.transport.name, 'polling');
  });

  it('refuses a namespace other than "/" and ignores unknown events', async () => {
    const ns = io(`${h.url}/admin`, { forceNew: true, reconnection: false, auth: { token: h.tokens.admin } });
    clients.add(ns);
    const err = await refused(ns);
    assert.equal(err.message, 'Invalid namespace');
    const s = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    await connected(s);
    s.emit('hello', 1, { two: 2 });
    s.emit('new-order', { invoice_number: 'INV-20990101-0001' }); // clients cannot broadcast
    const watcher = client(h, { token: h.tokens.admin, transports: ['websocket'] });
    await connected(watcher);
    const seen = record(watcher);
    const got = next(s, 'new-order');
    const watched = next(watcher, 'new-order');
    const order = await postOrder(h, h.tokens.kasir1);
    assertSameOrder(await got, order);
    assertSameOrder(await watched, order);
    assert.deepStrictEqual(seen.map((e) => `${e.event} ${e.data.invoice_number}`), [`new-order ${order.invoice_number}`]);
    assert.ok(s.connected);
  });

  it('an event with a binary attachment is decoded or refused cleanly; the server carries on', async () => {
    const s = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    await connected(s);
    const order = await postOrder(h, h.tokens.kasir1);
    const outcome = await Promise.race([
      ack(s, 'order-status', { invoice_number: order.invoice_number, status: 'preparing', photo: Buffer.from([0, 1, 2, 255]) })
        .then((reply) => ({ reply }), (err) => ({ err })),
      next(s, 'disconnect').then((reason) => ({ disconnected: reason })),
    ]);
    if (outcome.reply) {
      // Decoded: the attachment is just an extra key, the change applies.
      assert.equal(outcome.reply.ok, true, JSON.stringify(outcome.reply));
      assert.equal(outcome.reply.order.status, 'preparing');
    } else {
      assert.ok(outcome.disconnected, `neither an ack nor a clean disconnect: ${outcome.err && outcome.err.message}`);
    }
    const other = client(h, { token: h.tokens.dapur1 });
    await connected(other);
    const got = next(other, 'new-order');
    const o = await postOrder(h, h.tokens.kasir1);
    assertSameOrder(await got, o);
  });

  it('accepts a device token and a login session token', async () => {
    const device = client(h, { token: h.tokens.admin, transports: ['websocket'] });
    await connected(device);
    const session = await h.login('dapur1', 'kitchen-secret');
    const s = client(h, { token: session });
    await connected(s);
    assert.ok(s.id);
  });

  it('refuses a CONNECT without a token or with a bad one: connect_error "unauthorized"', async () => {
    for (const opts of [{}, { token: '' }, { token: 'not-a-token' }, { token: 42 }, { transports: ['websocket'] }]) {
      const err = await refused(client(h, opts));
      assert.equal(err.message, 'unauthorized', `auth ${JSON.stringify(opts)}`);
    }
    // A refused client changes nothing for the others.
    const ok = client(h, { token: h.tokens.dapur1 });
    await connected(ok);
  });

  it('order-status: ok ack carries the order; every client gets order-updated', async () => {
    const kitchen = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    const watcher = client(h, { token: h.tokens.admin });
    await Promise.all([connected(kitchen), connected(watcher)]);
    const order = await postOrder(h, h.tokens.kasir1);
    const updated = next(watcher, 'order-updated', (o) => forInvoice(order.invoice_number)(o) && o.status === 'preparing');
    const echoed = next(kitchen, 'order-updated', (o) => forInvoice(order.invoice_number)(o) && o.status === 'preparing');

    const reply = await ack(kitchen, 'order-status', { invoice_number: order.invoice_number, status: 'preparing' });
    assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.equal(reply.order.invoice_number, order.invoice_number);
    assert.equal(reply.order.status, 'preparing');
    assert.deepStrictEqual(reply.order.lines, order.lines);
    assertSameOrder(await updated, reply.order);
    assertSameOrder(await echoed, reply.order);
    const r = await h.api('GET', `/api/v1/orders/${order.invoice_number}`, { token: h.tokens.admin });
    assertSameOrder(r.json, reply.order);

    // The kitchen bumps it on: ready, completed, and recalls it (completed -> ready).
    for (const status of ['ready', 'completed', 'ready']) {
      const res = await ack(kitchen, 'order-status', { invoice_number: order.invoice_number, status });
      assert.equal(res.ok, true, `${status}: ${JSON.stringify(res)}`);
      assert.equal(res.order.status, status);
    }
  });

  it('order-status errors: forbidden, invalid_transition (with the current status), not_found, bad input', async () => {
    const kitchen = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    const cashier = client(h, { token: h.tokens.kasir1, transports: ['websocket'] });
    await Promise.all([connected(kitchen), connected(cashier)]);
    const order = await postOrder(h, h.tokens.kasir1);
    const inv = order.invoice_number;
    const watch = record(kitchen);

    const expectError = async (socket, payload, code) => {
      const reply = await ack(socket, 'order-status', payload);
      assert.equal(reply.ok, false, `${JSON.stringify(payload)}: ${JSON.stringify(reply)}`);
      assert.equal(typeof reply.error, 'object');
      assert.equal(reply.error.code, code, JSON.stringify(reply));
      assert.equal(typeof reply.error.message, 'string');
      assert.ok(reply.error.message.length > 0);
      return reply.error;
    };

    // The kitchen never cancels; the cashier never prepares (the role is checked first).
    await expectError(kitchen, { invoice_number: inv, status: 'cancelled' }, 'forbidden');
    await expectError(cashier, { invoice_number: inv, status: 'preparing' }, 'forbidden');
    // new -> completed is not a transition: 409 invalid_transition naming the current status.
    const err = await expectError(kitchen, { invoice_number: inv, status: 'completed' }, 'invalid_transition');
    assert.match(err.message, /\bnew\b/, 'the message names the current status');
    // SPEC 11.2: ours also carries error.current_status in the ack, as in the REST 409 (the
    // Node reference leaves it out of the ack).
    if (h.target === 'c') assert.equal(err.current_status, 'new');
    else if ('current_status' in err) assert.equal(err.current_status, 'new');
    await expectError(kitchen, { invoice_number: 'INV-19990101-0001', status: 'ready' }, 'not_found');
    await expectError(kitchen, { invoice_number: inv, status: 'eaten' }, 'validation_failed');
    // Garbage payloads are refused with an ack, not a crash.
    for (const payload of [null, 'INV', 42, [], {}, { invoice_number: 7, status: 'ready' }]) {
      const reply = await ack(kitchen, 'order-status', payload);
      assert.equal(reply.ok, false, `${JSON.stringify(payload)}: ${JSON.stringify(reply)}`);
      assert.equal(typeof reply.error.code, 'string');
    }
    // Without an ack callback the server just applies it (and stays up).
    const updated = next(kitchen, 'order-updated', forInvoice(inv));
    kitchen.emit('order-status', { invoice_number: inv, status: 'preparing' });
    assert.equal((await updated).status, 'preparing');

    // None of the refused changes was broadcast.
    assert.deepStrictEqual(watch.filter((e) => e.event === 'order-updated').map((e) => e.data.status), ['preparing']);
    const r = await h.api('GET', `/api/v1/orders/${inv}`, { token: h.tokens.admin });
    assert.equal(r.json.status, 'preparing');
  });

  it('a revoked session token: its open socket is disconnected and it can no longer connect', async () => {
    const session = await h.login('dapur1', 'kitchen-secret');
    const s = client(h, { token: session, transports: ['websocket'] });
    await connected(s);
    const gone = next(s, 'disconnect');
    const out = await h.api('POST', '/api/v1/auth/logout', { token: session });
    assert.equal(out.status, 204);
    assert.equal(await gone, 'io server disconnect'); // SPEC 11.22
    const err = await refused(client(h, { token: session }));
    assert.equal(err.message, 'unauthorized');
  });

  it('REST PATCH broadcasts order-updated and DELETE broadcasts order-deleted', async () => {
    const s = client(h, { token: h.tokens.dapur1 });
    await connected(s);
    const order = await postOrder(h, h.tokens.kasir1);
    const inv = order.invoice_number;

    const updated = next(s, 'order-updated', forInvoice(inv));
    const patched = await h.api('PATCH', `/api/v1/orders/${inv}/status`, { token: h.tokens.dapur1, body: { status: 'ready' } });
    assert.equal(patched.status, 200, patched.text);
    assertSameOrder(await updated, patched.json);
    assert.equal(patched.json.status, 'ready');

    const cancelled = next(s, 'order-updated', forInvoice(inv));
    const c = await h.api('PATCH', `/api/v1/orders/${inv}/status`, { token: h.tokens.kasir1, body: { status: 'cancelled' } });
    assert.equal(c.status, 200, c.text);
    assertSameOrder(await cancelled, c.json);

    const deleted = next(s, 'order-deleted', forInvoice(inv));
    const del = await h.api('DELETE', `/api/v1/orders/${inv}`, { token: h.tokens.admin });
    assert.equal(del.status, 204, del.text);
    assert.deepStrictEqual(await deleted, { invoice_number: inv });
  });

  it('two outlets are isolated: outlet 1 never sees outlet 2, the admin sees both', async () => {
    const k1 = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    const k2 = client(h, { token: h.tokens.dapur2 });
    const admin = client(h, { token: h.tokens.admin, transports: ['websocket'] });
    await Promise.all([connected(k1), connected(k2), connected(admin)]);
    const seen1 = record(k1);
    const seen2 = record(k2);
    const seenAdmin = record(admin);

    const adminGot2 = next(admin, 'new-order', (o) => o.outlet_id === 2);
    const k2Got = next(k2, 'new-order');
    const o2 = await postOrder(h, h.tokens.kasir2);
    assert.equal(o2.outlet_id, 2);
    assertSameOrder(await k2Got, o2);
    assertSameOrder(await adminGot2, o2);

    // Outlet 2's status change and void reach outlet 2 and the admin only.
    const k2Updated = next(k2, 'order-updated', forInvoice(o2.invoice_number));
    const upd = await ack(k2, 'order-status', { invoice_number: o2.invoice_number, status: 'preparing' });
    assert.equal(upd.ok, true, JSON.stringify(upd));
    await k2Updated;
    // Outlet 1's kitchen cannot reach outlet 2's order either.
    const cross = await ack(k1, 'order-status', { invoice_number: o2.invoice_number, status: 'ready' });
    assert.equal(cross.ok, false);
    assert.equal(cross.error.code, 'not_found');
    const k2Deleted = next(k2, 'order-deleted', forInvoice(o2.invoice_number));
    const del = await h.api('DELETE', `/api/v1/orders/${o2.invoice_number}`, { token: h.tokens.admin });
    assert.equal(del.status, 204);
    await k2Deleted;

    // Then an outlet-1 order. Events on one connection arrive in order, so once k1 has it,
    // anything of outlet 2 sent to k1 would already have arrived.
    const k1Got = next(k1, 'new-order');
    const adminGot1 = next(admin, 'new-order', (o) => o.outlet_id === 1);
    const o1 = await postOrder(h, h.tokens.kasir1);
    assertSameOrder(await k1Got, o1);
    assertSameOrder(await adminGot1, o1);
    // A sentinel for k2 so that its stream is complete too.
    const k2Sentinel = next(k2, 'new-order', (o) => o.outlet_id === 2);
    const o2b = await postOrder(h, h.tokens.kasir2);
    await k2Sentinel;

    const invoices = (seen) => seen.map((e) => `${e.event} ${e.data && e.data.invoice_number}`);
    assert.deepStrictEqual(invoices(seen1), [`new-order ${o1.invoice_number}`]);
    assert.deepStrictEqual(invoices(seen2), [
      `new-order ${o2.invoice_number}`, `order-updated ${o2.invoice_number}`,
      `order-deleted ${o2.invoice_number}`, `new-order ${o2b.invoice_number}`,
    ]);
    assert.ok(invoices(seenAdmin).includes(`order-deleted ${o2.invoice_number}`));
    assert.ok(invoices(seenAdmin).includes(`new-order ${o1.invoice_number}`));

    // REST is outlet-scoped the same way.
    const r = await h.api('GET', `/api/v1/orders/${o2b.invoice_number}`, { token: h.tokens.dapur1 });
    assert.equal(r.status, 404);
  });

  it('recovers after a forced transport close: the missed new-order arrives and socket.recovered is true', async () => {
    const s = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    await connected(s);
    assert.equal(s.recovered, false);
    const id = s.id;
    // An event first: the client resumes from the offset of the last event it received.
    const first = next(s, 'new-order');
    const a = await postOrder(h, h.tokens.kasir1);
    assert.equal((await first).invoice_number, a.invoice_number);

    const gone = next(s, 'disconnect');
    s.io.engine.close(); // the transport goes away without a Socket.IO DISCONNECT
    await gone;
    await h.waitForLog(new RegExp(`Client disconnected: ${escapeRe(id)}`));

    const seen = record(s);
    const b = await postOrder(h, h.tokens.kasir1); // sent while the client is away
    s.connect();
    await connected(s);
    assert.equal(s.recovered, true, 'socket.recovered');
    assert.equal(s.id, id, 'a recovered socket keeps its id');
    await withTimeout((async () => {
      while (!seen.some((e) => e.event === 'new-order' && e.data.invoice_number === b.invoice_number)) await next(s, 'new-order');
    })(), WAIT, 'the missed order');
    const missed = seen.find((e) => e.data.invoice_number === b.invoice_number);
    assertSameOrder(missed.data, b);
    assert.equal(seen.filter((e) => e.data.invoice_number === a.invoice_number).length, 0, 'an order already seen is not replayed');

    // And it is live again, still in its outlet room only: outlet 2's order never arrives.
    const after = record(s);
    const c = next(s, 'new-order', (x) => x.outlet_id === 1);
    await postOrder(h, h.tokens.kasir2);
    const o = await postOrder(h, h.tokens.kasir1);
    assertSameOrder(await c, o);
    assert.deepStrictEqual(after.map((e) => e.data.invoice_number), [o.invoice_number]);
  });

  it('recovers with automatic reconnection after the TCP connection dies (polling upgraded to WebSocket)', async () => {
    const s = client(h, { token: h.tokens.dapur1, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    await connected(s);
    if (s.io.engine.transport.name !== 'websocket') await next(s.io.engine, 'upgrade');
    const id = s.id;
    const first = next(s, 'new-order');
    await postOrder(h, h.tokens.kasir1);
    await first;

    const seen = record(s);
    const gone = next(s, 'disconnect');
    s.io.engine.transport.ws._socket.destroy(); // no close frame: the link just dies
    assert.equal(await gone, 'transport close');
    await h.waitForLog(new RegExp(`Client disconnected: ${escapeRe(id)}`));
    const reconnected = next(s, 'connect', () => true, 2 * WAIT);
    const b = await postOrder(h, h.tokens.kasir1);
    await reconnected;
    assert.equal(s.recovered, true, 'socket.recovered');
    assert.equal(s.id, id);
    await withTimeout((async () => {
      while (!seen.some((e) => e.event === 'new-order' && e.data.invoice_number === b.invoice_number)) await next(s, 'new-order');
    })(), WAIT, 'the missed order');
    assert.equal(seen.filter((e) => e.event === 'new-order' && e.data.invoice_number === b.invoice_number).length, 1);
  });

  it('a client that did not recover (unknown pid) gets a fresh session, recovered false', async () => {
    const s = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    await connected(s);
    const first = next(s, 'new-order');
    await postOrder(h, h.tokens.kasir1);
    await first;
    const oldId = s.id;
    const gone = next(s, 'disconnect');
    s.io.engine.close();
    await gone;
    s._pid = 'AAAAAAAAAAAAAAAAAAAA'; // a session the server never had
    s.connect();
    await connected(s);
    assert.equal(s.recovered, false);
    assert.notEqual(s.id, oldId);
    const live = next(s, 'new-order');
    const o = await postOrder(h, h.tokens.kasir1);
    assertSameOrder(await live, o);
  });

  it('CORS with the default origin *: any origin on polling and REST, preflights answered', async () => {
    const origin = 'http://anywhere.example';
    const hs = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } });
    assert.equal(hs.status, 200);
    await hs.text();
    assert.ok(['*', origin].includes(hs.headers.get('access-control-allow-origin')), hs.headers.get('access-control-allow-origin'));

    const pre = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling`, {
      method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' },
    });
    assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
    assert.ok(['*', origin].includes(pre.headers.get('access-control-allow-origin')));

    const rest = await h.api('GET', '/healthz', { headers: { Origin: origin } });
    assert.equal(rest.status, 200);
    assert.equal(rest.headers.get('access-control-allow-origin'), '*');
    const rpre = await fetch(`${h.url}/api/v1/orders/INV-20240101-0001/status`, {
      method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    assert.ok(rpre.status === 204 || rpre.status === 200, `preflight status ${rpre.status}`);
    assert.equal(rpre.headers.get('access-control-allow-origin'), '*');
    assert.match(rpre.headers.get('access-control-allow-methods') || '', /PATCH/);
  });

  it('200 clients all receive one order', { timeout: 45000 }, async () => {
    const many = Array.from({ length: 200 }, (_, i) =>
      client(h, { token: i % 2 ? h.tokens.dapur1 : h.tokens.admin, transports: ['websocket'] }));
    await pool(many, 25, (s) => connected(s, 2 * WAIT));
    const got = many.map((s) => next(s, 'new-order', () => true, 2 * WAIT));
    const order = await postOrder(h, h.tokens.kasir1);
    const events = await Promise.all(got);
    for (const e of events) assertSameOrder(e, order);
    for (const s of many) s.disconnect();
  });
});

// ---- heartbeats ----------------------------------------------------------------------

describe('Engine.IO heartbeat (--ping-interval 300 --ping-timeout 300)', () => {
  let h;
  before(async () => {
    h = await start({
      wsAuth: 'on',
      users: [{ name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' },
        { name: 'dapur1', role: 'kitchen', outlet: 1, password: 'kitchen-secret' }],
      args: ['--ping-interval', '300', '--ping-timeout', '300'],
    });
  });
  after(async () => {
    closeClients();
    await shutdown(h);
  });

  it('clients that answer pings stay connected; one that stops answering is dropped (ping timeout)', async () => {
    const hs = await (await fetch(`${h.url}/socket.io/?EIO=4&transport=polling`)).text();
    const open = JSON.parse(hs.slice(1));
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 300);

    const ws = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    const poll = client(h, { token: h.tokens.dapur1, transports: ['polling'] });
    await Promise.all([connected(ws), connected(poll)]);

    // A raw client that does the handshake and then never answers a ping.
    const raw = new WebSocket(`ws://127.0.0.1:${h.port}/socket.io/?EIO=4&transport=websocket`);
    raw.on('error', () => {});
    const rawClosed = new Promise((resolve) => raw.on('close', resolve));
    const sid = await withTimeout(new Promise((resolve) => {
      raw.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('0{')) raw.send(`40${JSON.stringify({ token: h.tokens.dapur1 })}`);
        else if (text.startsWith('40{')) resolve(JSON.parse(text.slice(2)).sid);
      });
    }), WAIT, 'raw client handshake');
    const line = await h.waitForLog(new RegExp(`Client disconnected: ${escapeRe(sid)}`), WAIT);
    assert.match(line, /ping timeout/);
    await withTimeout(rawClosed, WAIT, 'the server to close the silent client');

    // Meanwhile the real clients answered every ping: count a few more, then an order.
    const pings = [ws, poll].map((s) => new Promise((resolve) => {
      let n = 0;
      s.io.engine.on('ping', () => { n += 1; if (n === 3) resolve(); });
    }));
    await withTimeout(Promise.all(pings), WAIT, 'three pings each');
    assert.ok(ws.connected && poll.connected);
    const got = [next(ws, 'new-order'), next(poll, 'new-order')];
    const order = await postOrder(h, h.tokens.kasir1);
    for (const e of await Promise.all(got)) assertSameOrder(e, order);
  });
});

// ---- a client that stops reading ---------------------------------------------------

describe('a client that stops reading', () => {
  let h;
  // No order rate limit: the flood posts far more than 600 orders a minute. Pings far
  // apart, so that the drop can only come from the send queue, not from a ping timeout.
  before(async () => {
    h = await start({
      wsAuth: 'on',
      users: [{ name: 'admin', role: 'admin', password: 'admin-secret' },
        { name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' }],
      args: ['--order-rate', '0', '--ping-interval', '120000', '--ping-timeout', '60000'],
    });
  });
  after(async () => {
    closeClients();
    await shutdown(h);
  });

  it('is dropped while the others keep receiving', { timeout: 50000 }, async () => {
    // Big orders fill the socket buffers in fewer orders: 60 extra products with long names.
    const cats = (await h.api('GET', '/api/v1/categories', { token: h.tokens.admin })).json;
    assert.ok(Array.isArray(cats) && cats.length > 0, 'the demo categories');
    const ids = [];
    await pool(Array.from({ length: 60 }, (_, i) => i), 8, async (i) => {
      const name = `Flood item ${String(i).padStart(3, '0')} ${'with a long descriptive name '.repeat(2)}`.trim();
      const r = await h.api('POST', '/api/v1/products', {
        token: h.tokens.admin, body: { name, price: 1000 + i, category_id: cats[i % cats.length].id },
      });
      assert.equal(r.status, 201, `POST /api/v1/products: ${r.status} ${r.text}`);
      ids.push(r.json.id);
    });
    const body = sampleOrder(ids.map((id) => ({ product_id: id, qty: 2 })), { note: 'x'.repeat(400) });

    // A raw WebSocket client: Engine.IO handshake, Socket.IO CONNECT, then it stops reading.
    const raw = new WebSocket(`ws://127.0.0.1:${h.port}/socket.io/?EIO=4&transport=websocket`);
    const rawMessages = [];
    let rawClosed = false;
    const rawClose = new Promise((resolve) => raw.on('close', (code) => { rawClosed = true; resolve(code); }));
    raw.on('error', () => {}); // a reset is one way to be dropped
    const sid = await withTimeout(new Promise((resolve, reject) => {
      raw.on('message', (data) => {
        const text = data.toString();
        rawMessages.push(text);
        if (text.startsWith('0{')) raw.send(`40${JSON.stringify({ token: h.tokens.admin })}`);
        else if (text.startsWith('40{')) resolve(JSON.parse(text.slice(2)).sid);
        else if (text.startsWith('44')) reject(new Error(`refused: ${text}`));
      });
    }), WAIT, 'raw client handshake');
    raw.pause(); // never reads again: the kernel buffers fill, then the server's queue

    const healthy = [
      client(h, { token: h.tokens.admin, transports: ['websocket'] }),
      client(h, { token: h.tokens.admin, transports: ['polling'] }),
      client(h, { token: h.tokens.admin }),
    ];
    await Promise.all(healthy.map((s) => connected(s)));
    const counts = healthy.map(() => 0);
    healthy.forEach((s, i) => s.on('new-order', () => { counts[i] += 1; }));

    // Flood until the server drops the stalled client (its disconnect log line), at most 6000 orders.
    const dropped = h.waitForLog(new RegExp(`Client disconnected: ${escapeRe(sid)}`), 45000);
    let isDropped = false;
    dropped.then(() => { isDropped = true; }, () => {});
    let posted = 0;
    const invoices = [];
    const t0 = Date.now();
    while (!isDropped && posted < 6000) {
      const batch = await Promise.all(Array.from({ length: 16 }, () => postOrder(h, h.tokens.kasir1, body)));
      posted += batch.length;
      invoices.push(...batch.map((o) => o.invoice_number));
    }
    await dropped; // fails the test with the server's last log lines if it never came
    if (process.env.KDS_TEST_VERBOSE) console.error(`dropped after ${posted} orders, ${Date.now() - t0} ms`);
    assert.ok(!rawClosed, 'the raw client cannot have seen the close: it is not reading');

    // The others still get everything, including an order posted after the drop (an event
    // may arrive before the POST response: wait for "the next order" before posting it).
    const afterDrop = healthy.map((s) => next(s, 'new-order', (o) => !invoices.includes(o.invoice_number), 2 * WAIT));
    const last = await postOrder(h, h.tokens.kasir1);
    posted += 1;
    await Promise.all(afterDrop.map((p, i) => p.then((o) => assert.equal(o.invoice_number, last.invoice_number))
      .catch((e) => { throw new Error(`client ${i} (${healthy[i].io.engine && healthy[i].io.engine.transport.name}, connected ${healthy[i].connected}, ${counts[i]} of ${posted}): ${e.message}\n${h.logs.filter((l) => !/Broadcasted/.test(l)).slice(-10).join('\n')}`); })));
    assert.deepStrictEqual(counts, healthy.map(() => posted));

    // When it reads again it finds the end of its connection, after fewer orders than were posted.
    raw.removeAllListeners('message');
    let rawOrders = 0;
    raw.on('message', (data) => { if (data.toString().startsWith('42["new-order"')) rawOrders += 1; });
    raw.resume();
    await withTimeout(rawClose, WAIT, 'the dropped connection to end');
    assert.ok(rawOrders < posted, `the dropped client got ${rawOrders} of ${posted} orders`);
  });
});

// ---- --ws-auth off, a CORS origin list ----------------------------------------------

describe('--ws-auth off and --cors-origin list', () => {
  let h;
  const ALLOWED = 'http://pos.example';
  before(async () => {
    h = await start({
      wsAuth: 'off',
      users: [{ name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' },
        { name: 'dapur1', role: 'kitchen', outlet: 1, password: 'kitchen-secret' },
        { name: 'kasir2', role: 'cashier', outlet: 2, password: 'cashier2-secret' }],
      args: ['--cors-origin', `${ALLOWED},http://kds.example`],
    });
  });
  after(async () => {
    closeClients();
    await shutdown(h);
  });

  it('accepts an anonymous client (as in the seed), which sees every outlet', async () => {
    const anon = client(h); // io('http://host:port') exactly as the seed does
    await connected(anon);
    const got1 = next(anon, 'new-order', (o) => o.outlet_id === 1);
    const got2 = next(anon, 'new-order', (o) => o.outlet_id === 2);
    const o1 = await postOrder(h, h.tokens.kasir1);
    const o2 = await postOrder(h, h.tokens.kasir2);
    assertSameOrder(await got1, o1);
    assertSameOrder(await got2, o2);
  });

  it('an anonymous client cannot send order-status: unauthorized', async () => {
    const anon = client(h, { transports: ['websocket'] });
    await connected(anon);
    const order = await postOrder(h, h.tokens.kasir1);
    const reply = await ack(anon, 'order-status', { invoice_number: order.invoice_number, status: 'preparing' });
    assert.equal(reply.ok, false, JSON.stringify(reply));
    assert.equal(reply.error.code, 'unauthorized');
    const r = await h.api('GET', `/api/v1/orders/${order.invoice_number}`, { token: h.tokens.kasir1 });
    assert.equal(r.json.status, 'new');
  });

  it('still refuses an invalid token, and a valid token keeps its outlet room', async () => {
    const err = await refused(client(h, { token: 'not-a-token' }));
    assert.equal(err.message, 'unauthorized');

    const k1 = client(h, { token: h.tokens.dapur1, transports: ['websocket'] });
    await connected(k1);
    const seen = record(k1);
    await postOrder(h, h.tokens.kasir2);
    const got = next(k1, 'new-order');
    const o1 = await postOrder(h, h.tokens.kasir1);
    assertSameOrder(await got, o1);
    assert.deepStrictEqual(seen.map((e) => e.data.invoice_number), [o1.invoice_number]);
    const reply = await ack(k1, 'order-status', { invoice_number: o1.invoice_number, status: 'preparing' });
    assert.equal(reply.ok, true, JSON.stringify(reply));
  });

  it('CORS on Engine.IO polling: allowed origin echoed, preflight answered, others get no grant', async () => {
    const hs = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: ALLOWED } });
    assert.equal(hs.status, 200);
    assert.equal(hs.headers.get('access-control-allow-origin'), ALLOWED);
    const open = await hs.text();
    assert.match(open, /^0\{/);
    const { sid } = JSON.parse(open.slice(1));

    const pre = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: 'OPTIONS',
      headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
    assert.equal(pre.headers.get('access-control-allow-origin'), ALLOWED);
    const methods = (pre.headers.get('access-control-allow-methods') || '').toUpperCase();
    assert.ok(methods.includes('GET') && methods.includes('POST'), `allow-methods: ${methods}`);

    const post = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: 'POST', headers: { Origin: ALLOWED, 'Content-Type': 'text/plain;charset=UTF-8' }, body: '40',
    });
    assert.equal(post.status, 200);
    assert.equal(post.headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(await post.text(), 'ok');

    const other = await fetch(`${h.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://evil.example' } });
    await other.text();
    const grant = other.headers.get('access-control-allow-origin');
    assert.ok(grant === null, `an unlisted origin was granted: ${grant}`);
  });

  it('CORS on REST: allowed origin echoed, preflight lists methods and headers, others get no grant', async () => {
    const get = await h.api('GET', '/api/v1/products', { token: h.tokens.kasir1, headers: { Origin: ALLOWED } });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(get.headers.get('vary') || '', /origin/i);

    const pre = await fetch(`${h.url}/api/v1/orders`, {
      method: 'OPTIONS',
      headers: {
        Origin: ALLOWED, 'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type,idempotency-key',
      },
    });
    assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
    assert.equal(pre.headers.get('access-control-allow-origin'), ALLOWED);
    const methods = (pre.headers.get('access-control-allow-methods') || '').toUpperCase().split(/\s*,\s*/);
    for (const m of ['GET', 'POST', 'PATCH', 'DELETE']) assert.ok(methods.includes(m), `allow-methods ${methods} lacks ${m}`);
    const headers = (pre.headers.get('access-control-allow-headers') || '').toLowerCase().split(/\s*,\s*/);
    for (const x of ['authorization', 'content-type', 'idempotency-key']) assert.ok(headers.includes(x), `allow-headers ${headers} lacks ${x}`);

    const other = await h.api('GET', '/api/v1/products', { token: h.tokens.kasir1, headers: { Origin: 'http://evil.example' } });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});
