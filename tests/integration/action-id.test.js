'use strict';
// Action ids on the socket commands (SPEC 5.1): a display that lost an ack sends the same
// `order-status` or `line-done` again with the same `action_id`; the server applies it once,
// answers the repeat with the order as it is now, and broadcasts nothing for it. Run against
// the built kds-server with the official socket.io-client.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { start, sampleOrder, TARGET } = require('../lib/harness');
const { WAIT, sleep, connected, postOrder, shutdown } = require('../lib/wait');

const SKIP = TARGET === 'node' ? { skip: 'action ids are not in the Node reference' } : {};

function socketFor(h, token) {
  return io(h.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

describe('action ids on order-status and line-done (SPEC 5.1)', SKIP, () => {
  let h;
  let kitchen;
  let updates;
  const T = () => h.tokens;
  const get = async (inv) => (await h.api('GET', `/api/v1/orders/${inv}`, { token: T().dapur1 })).json;
  const status = (token, inv, s) => h.api('PATCH', `/api/v1/orders/${inv}/status`, { token, body: { status: s } });
  const emit = (s, event, payload) => s.timeout(WAIT).emitWithAck(event, payload);

  before(async () => {
    h = await start({ args: ['--order-rate', '0'] });
    kitchen = socketFor(h, T().dapur1);
    await connected(kitchen);
    updates = [];
    kitchen.on('order-updated', (o) => updates.push(o));
  });
  after(async () => {
    kitchen?.close();
    await shutdown(h);
  });

  const updatesFor = (inv) => updates.filter((o) => o.invoice_number === inv);

  it('a repeated order-status is not applied again, even after the order moved on', async () => {
    const o = await postOrder(h, T().kasir1, sampleOrder());
    const first = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'preparing', action_id: 'tui-a1' });
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.equal(first.order.status, 'preparing');
    // another screen moves it on; without the id, a replayed `preparing` would recall it
    assert.equal((await status(T().dapur1, o.invoice_number, 'ready')).status, 200);
    await sleep(100);
    const n = updatesFor(o.invoice_number).length;
    const again = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'preparing', action_id: 'tui-a1' });
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal(again.order.status, 'ready', 'the replay answers the order as it is now');
    assert.equal((await get(o.invoice_number)).status, 'ready', 'not recalled by the replay');
    await sleep(200);
    assert.equal(updatesFor(o.invoice_number).length, n, 'a replay broadcasts nothing');
    // without an id the same command is applied (a recall), as before
    const plain = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'preparing' });
    assert.equal(plain.order.status, 'preparing');
  });

  it('a repeated line-done is not applied again', async () => {
    const o = await postOrder(h, T().kasir1, sampleOrder([{ product_id: 1, qty: 1 }, { product_id: 2, qty: 1 }]));
    const a = await emit(kitchen, 'line-done', { invoice_number: o.invoice_number, line: 1, done: true, action_id: 'tui-l1' });
    assert.equal(a.ok, true, JSON.stringify(a));
    assert.equal(a.order.lines[0].done, true);
    // someone undoes it over REST; the lost-ack replay must not redo it
    const undo = await h.api('PATCH', `/api/v1/orders/${o.invoice_number}/lines/1`, { token: T().dapur1, body: { done: false } });
    assert.equal(undo.status, 200);
    const b = await emit(kitchen, 'line-done', { invoice_number: o.invoice_number, line: 1, done: true, action_id: 'tui-l1' });
    assert.equal(b.ok, true, JSON.stringify(b));
    assert.equal(b.order.lines[0].done, undefined, 'the replay answers the order as it is now');
    assert.equal((await get(o.invoice_number)).lines[0].done, undefined);
  });

  it('an id used for another command, or a malformed id, is refused', async () => {
    const o = await postOrder(h, T().kasir1, sampleOrder());
    assert.equal((await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'preparing', action_id: 'tui-x1' })).ok, true);
    const reused = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'ready', action_id: 'tui-x1' });
    assert.equal(reused.ok, false);
    assert.equal(reused.error.code, 'action_id_reused', JSON.stringify(reused));
    assert.equal((await get(o.invoice_number)).status, 'preparing', 'nothing applied');
    for (const bad of ['', 'x'.repeat(65), 'has space', 'line\nfeed', 42, null, { a: 1 }, ['x']]) {
      const r = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'ready', action_id: bad });
      assert.equal(r.ok, false, JSON.stringify([bad, r]));
      assert.equal(r.error.code, 'validation_failed', JSON.stringify([bad, r]));
      const l = await emit(kitchen, 'line-done', { invoice_number: o.invoice_number, line: 1, done: true, action_id: bad });
      assert.equal(l.error?.code, 'validation_failed', JSON.stringify([bad, l]));
    }
    assert.equal((await get(o.invoice_number)).status, 'preparing', 'no malformed id applied anything');
    assert.equal((await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'ready', action_id: 'A-z_0.9:' + 'y'.repeat(56) })).ok, true,
      'every allowed character, 64 of them');
  });

  it('ids are per user: another user\'s same id is a different action', async () => {
    const o = await postOrder(h, T().kasir1, sampleOrder());
    assert.equal((await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'preparing', action_id: 'shared-1' })).ok, true);
    const admin = socketFor(h, T().admin);
    await connected(admin);
    const r = await emit(admin, 'order-status', { invoice_number: o.invoice_number, status: 'ready', action_id: 'shared-1' });
    admin.close();
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.order.status, 'ready');
  });

  it('a refused command is not remembered: fixed, the same id applies', async () => {
    const o = await postOrder(h, T().kasir1, sampleOrder());
    const r = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'completed', action_id: 'tui-r1' });
    assert.equal(r.ok, false);
    assert.equal(r.error.code, 'invalid_transition');
    assert.equal((await status(T().dapur1, o.invoice_number, 'ready')).status, 200);
    const again = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'completed', action_id: 'tui-r1' });
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal(again.order.status, 'completed');
  });

  it('a replay survives a restart of the server (the id is in the store)', async () => {
    const o = await postOrder(h, T().kasir1, sampleOrder());
    assert.equal((await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'preparing', action_id: 'tui-s1' })).ok, true);
    assert.equal((await status(T().dapur1, o.invoice_number, 'ready')).status, 200);
    kitchen.close();
    await h.restart();
    kitchen = socketFor(h, T().dapur1);
    await connected(kitchen);
    kitchen.on('order-updated', (x) => updates.push(x));
    const again = await emit(kitchen, 'order-status', { invoice_number: o.invoice_number, status: 'preparing', action_id: 'tui-s1' });
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal(again.order.status, 'ready');
  });
});
