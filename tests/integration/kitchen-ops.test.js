'use strict';
// Kitchen operations (SPEC 10) against the real server on loopback: order context and line
// modifiers (validation, the merge rule, the JSON's key order, byte-for-byte sameness of an
// order without them), rush, item-level done over REST and the `line-done` socket event
// (the automatic `ready` and the recall to `preparing`, one `order-updated` per change),
// the recall list, the display role (read-only everywhere), GET /api/v1/settings, and
// --auto-complete. The day's figures (GET /api/v1/stats) have their own file, stats.test.js.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { start, sampleOrder, DEFAULT_USERS, TARGET } = require('../lib/harness');
const { WAIT, sleep, next, connected, postOrder, shutdown } = require('../lib/wait');

const SKIP = TARGET === 'node' ? { skip: 'SPEC 10 is not in the Node reference' } : {};
const USERS = [...DEFAULT_USERS, { name: 'board1', role: 'display', outlet: 1, password: 'display-secret' }];

function assertError(r, status, code, field) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.ok(r.json.error.message.length > 0);
  assert.equal(r.json.error.field, field, r.text);
}

function socketFor(h, token) {
  return io(h.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
}

/** Resolves once pred() holds (checked every 10 ms), rejects after WAIT. */
async function until(pred, what = 'a condition') {
  const end = Date.now() + WAIT;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Every `event` a socket gets, kept in order. */
function record(socket, event) {
  const seen = [];
  socket.on(event, (o) => seen.push(o));
  return seen;
}

describe('kitchen operations (SPEC 10)', SKIP, () => {
  let h;
  const T = () => h.tokens;
  const post = (token, body) => h.api('POST', '/api/v1/orders', { token, body });
  const rush = (token, inv, body) => h.api('PATCH', `/api/v1/orders/${inv}/priority`, { token, body });
  const line = (token, inv, n, body) => h.api('PATCH', `/api/v1/orders/${inv}/lines/${n}`, { token, body });
  const status = (token, inv, s) => h.api('PATCH', `/api/v1/orders/${inv}/status`, { token, body: { status: s } });
  let kitchen;
  let updates;

  before(async () => {
    h = await start({ users: USERS, args: ['--order-rate', '0', '--late-after', '420', '--board-ready-for', '90'] });
    kitchen = socketFor(h, T().dapur1);
    await connected(kitchen);
    updates = record(kitchen, 'order-updated');
  });
  after(async () => {
    kitchen?.close();
    await shutdown(h);
  });

  describe('10.1 order context and modifiers', () => {
    it('keeps order_type, table, customer_name and line note/modifiers, in SPEC order', async () => {
      const r = await post(T().kasir1, {
        payment_method: 'QRIS',
        items: [
          { product_id: 1, qty: 2, note: '  well done ', modifiers: ['no mayo', ' extra spicy '] },
          { product_id: 5, qty: 1 },
        ],
        order_type: 'dine_in', table: ' 12 ', customer_name: 'Budi',
      });
      assert.equal(r.status, 201, r.text);
      const o = r.json;
      assert.equal(o.order_type, 'dine_in');
      assert.equal(o.table, '12', 'trimmed');
      assert.equal(o.customer_name, 'Budi');
      assert.equal(o.lines[0].note, 'well done');
      assert.deepEqual(o.lines[0].modifiers, ['no mayo', 'extra spicy']);
      assert.equal(o.lines[1].note, undefined);
      assert.equal(o.lines[1].modifiers, undefined);
      const keys = Object.keys(o);
      assert.deepEqual(keys.slice(keys.indexOf('lines')), ['lines', 'order_type', 'table', 'customer_name']);
      assert.deepEqual(Object.keys(o.lines[0]),
        ['product_id', 'name', 'category', 'qty', 'price', 'subtotal', 'note', 'modifiers']);
      // what the store gives back is what was answered
      const again = await h.api('GET', `/api/v1/orders/${o.invoice_number}`, { token: T().dapur1 });
      assert.equal(again.text, r.text);
    });

    it('an order without them has none of the new keys (byte-for-byte the old shape)', async () => {
      const r = await post(T().kasir1, sampleOrder());
      assert.equal(r.status, 201);
      for (const k of ['order_type', 'table', 'customer_name', 'rush', 'modifiers', 'done']) {
        assert.ok(!r.text.includes(`"${k}"`), `${k} in ${r.text}`);
      }
      assert.match(r.text, /"outlet_id":1,"lines":\[\{"product_id":1,"name":"Corndog Sosis","category":"ISI CORNDOG","qty":1,"price":6000,"subtotal":6000\},/);
      assert.ok(r.text.endsWith('"subtotal":1000}]}'), r.text);
      // empty strings and arrays are "none", as the order note
      const e = await post(T().kasir1, sampleOrder([{ product_id: 1, qty: 1, note: ' ', modifiers: [] }],
        { table: '', customer_name: '  ', order_type: null }));
      assert.equal(e.status, 201, e.text);
      assert.ok(!/"(table|customer_name|order_type|note|modifiers)"/.test(e.text), e.text);
    });

    it('merges the same product only when note and modifiers are equal', async () => {
      const r = await post(T().kasir1, {
        payment_method: 'CASH',
        items: [
          { product_id: 1, qty: 1, modifiers: ['no mayo'] },
          { product_id: 1, qty: 2, modifiers: ['no mayo'] },
          { product_id: 1, qty: 1 },
          { product_id: 1, qty: 1, note: 'cut in half' },
          { product_id: 1, qty: 1, modifiers: ['extra spicy', 'no mayo'] },
          { product_id: 1, qty: 4 },
        ],
      });
      assert.equal(r.status, 201, r.text);
      const o = r.json;
      assert.deepEqual(o.lines.map((l) => [l.qty, l.note ?? null, l.modifiers ?? null]), [
        [3, null, ['no mayo']], [5, null, null], [1, 'cut in half', null], [1, null, ['extra spicy', 'no mayo']],
      ]);
      assert.deepEqual(o['ISI CORNDOG'], { quantity: 10, total_amount: 60000, items: ['Corndog Sosis'] });
      assert.equal(o.total_amount, 60000);
    });

    it('refuses every bad value with 422 and its field', async () => {
      const base = (extra, items = [{ product_id: 1, qty: 1 }]) => ({ payment_method: 'CASH', items, ...extra });
      const it1 = (extra) => base({}, [{ product_id: 1, qty: 1 }, { product_id: 5, qty: 1, ...extra }]);
      const cases = [
        [base({ order_type: 'pickup' }), 'order_type'],
        [base({ order_type: 3 }), 'order_type'],
        [base({ order_type: '' }), 'order_type'],
        [base({ table: 'x'.repeat(17) }), 'table'],
        [base({ table: 12 }), 'table'],
        [base({ table: 'a\nb' }), 'table'],
        [base({ customer_name: 'n'.repeat(65) }), 'customer_name'],
        [base({ customer_name: ['Budi'] }), 'customer_name'],
        [it1({ note: 'x'.repeat(141) }), 'items[1].note'],
        [it1({ note: 5 }), 'items[1].note'],
        [it1({ modifiers: 'no mayo' }), 'items[1].modifiers'],
        [it1({ modifiers: Array.from({ length: 11 }, (_, i) => `m${i}`) }), 'items[1].modifiers'],
        [it1({ modifiers: ['m'.repeat(41)] }), 'items[1].modifiers'],
        [it1({ modifiers: [''] }), 'items[1].modifiers'],
        [it1({ modifiers: ['  '] }), 'items[1].modifiers'],
        [it1({ modifiers: [null] }), 'items[1].modifiers'],
        [it1({ modifiers: [7] }), 'items[1].modifiers'],
        [it1({ modifiers: ['tab\there'] }), 'items[1].modifiers'],
        [it1({ modifiers: ['nul\u0000'] }), 'items[1].modifiers'],
        [it1({ modifiers: { a: 1 } }), 'items[1].modifiers'],
      ];
      for (const [body, field] of cases) {
        assertError(await post(T().kasir1, body), 422, 'validation_failed', field);
      }
      // limits are characters, not bytes: 16 emoji are a 32-unit table (too long), 140 é a fine note
      assertError(await post(T().kasir1, base({ table: '🍔'.repeat(9) })), 422, 'validation_failed', 'table');
      const ok = await post(T().kasir1, it1({ note: 'é'.repeat(140), modifiers: Array(10).fill('m'.repeat(40)) }));
      assert.equal(ok.status, 201, ok.text);
      assert.equal(ok.json.lines[1].note, 'é'.repeat(140));
    });
  });

  describe('10.2 rush', () => {
    it('sets and clears rush, broadcasting only a change', async () => {
      const o = await postOrder(h, T().kasir1);
      const heard = next(kitchen, 'order-updated', (u) => u.invoice_number === o.invoice_number && u.rush);
      const r = await rush(T().dapur1, o.invoice_number, { rush: true });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.rush, true);
      assert.ok(r.text.endsWith('"rush":true}'), 'rush is the last key');
      assert.deepEqual(await heard, r.json);
      const before = updates.length;
      const same = await rush(T().kasir1, o.invoice_number, { rush: true });
      assert.equal(same.status, 200);
      const cleared = await rush(T().admin, o.invoice_number, { rush: false });
      assert.equal(cleared.status, 200);
      assert.equal(cleared.json.rush, undefined);
      await next(kitchen, 'order-updated', (u) => u.invoice_number === o.invoice_number && !u.rush);
      const mine = updates.slice(before).filter((u) => u.invoice_number === o.invoice_number);
      assert.equal(mine.length, 1, 'the repeated rush: true was not broadcast');
    });

    it('checks the body, the role, the outlet and the status', async () => {
      const o = await postOrder(h, T().kasir1);
      for (const body of [{}, { rush: 'yes' }, { rush: 1 }, { rush: null }]) {
        assertError(await rush(T().dapur1, o.invoice_number, body), 422, 'validation_failed', 'rush');
      }
      assertError(await rush(T().board1, o.invoice_number, { rush: true }), 403, 'forbidden');
      assertError(await rush(T().dapur2, o.invoice_number, { rush: true }), 404, 'not_found');
      assertError(await rush(T().dapur1, 'INV-19990101-0001', { rush: true }), 404, 'not_found');
      assert.equal((await status(T().kasir1, o.invoice_number, 'cancelled')).status, 200);
      const r = await rush(T().dapur1, o.invoice_number, { rush: true });
      assertError(r, 409, 'invalid_transition');
      assert.equal(r.json.error.current_status, 'cancelled');
      // no body: answered as the status PATCH answers it
      const noBody = await h.api('PATCH', `/api/v1/orders/${o.invoice_number}/priority`, { token: T().dapur1 });
      const noBodyStatus = await h.api('PATCH', `/api/v1/orders/${o.invoice_number}/status`, { token: T().dapur1 });
      assert.ok(noBody.status >= 400 && noBody.status < 500);
      assert.equal(noBody.text, noBodyStatus.text);
    });
  });

  describe('10.3 item-level done', () => {
    it('every line done makes the order ready (one order-updated); undoing one recalls it', async () => {
      const o = await postOrder(h, T().kasir1, sampleOrder([{ product_id: 1, qty: 1 }, { product_id: 3, qty: 2 }]));
      const seen = () => updates.filter((u) => u.invoice_number === o.invoice_number);
      let r = await line(T().dapur1, o.invoice_number, 1, { done: true });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.lines[0].done, true);
      assert.equal(r.json.lines[1].done, undefined);
      assert.equal(r.json.status, 'new');
      assert.ok(r.text.includes('"subtotal":6000,"done":true}'), r.text);
      r = await line(T().admin, o.invoice_number, 2, { done: true });
      assert.equal(r.json.status, 'ready');
      assert.ok(r.json.lines.every((l) => l.done));
      await until(() => seen().length >= 2);
      assert.deepEqual(seen().map((u) => u.status), ['new', 'ready'], 'one event per change');
      // the same value again changes nothing and says nothing
      r = await line(T().dapur1, o.invoice_number, 2, { done: true });
      assert.equal(r.status, 200);
      r = await line(T().dapur1, o.invoice_number, 2, { done: false });
      assert.equal(r.json.status, 'preparing');
      assert.equal(r.json.lines[1].done, undefined);
      await until(() => seen().length >= 3);
      await sleep(100); // nothing more may come
      assert.deepEqual(seen().map((u) => u.status), ['new', 'ready', 'preparing']);
      // a bumped order keeps its done lines; completed, they cannot change
      assert.equal((await status(T().dapur1, o.invoice_number, 'ready')).status, 200);
      assert.equal((await status(T().dapur1, o.invoice_number, 'completed')).status, 200);
      r = await line(T().dapur1, o.invoice_number, 1, { done: false });
      assertError(r, 409, 'invalid_transition');
      assert.equal(r.json.error.current_status, 'completed');
    });

    it('checks the line, the body and the role', async () => {
      const o = await postOrder(h, T().kasir1);
      for (const n of [0, 3, 99999, 123456, -1, 'abc', '1.0', '1e0', ' 1']) {
        assertError(await line(T().dapur1, o.invoice_number, n, { done: true }), 404, 'not_found');
      }
      for (const body of [{}, { done: 'true' }, { done: 1 }]) {
        assertError(await line(T().dapur1, o.invoice_number, 1, body), 422, 'validation_failed', 'done');
      }
      assertError(await line(T().kasir1, o.invoice_number, 1, { done: true }), 403, 'forbidden');
      assertError(await line(T().board1, o.invoice_number, 1, { done: true }), 403, 'forbidden');
      assertError(await line(T().dapur2, o.invoice_number, 1, { done: true }), 404, 'not_found');
    });

    it('the line-done socket event answers with an ack, as order-status does', async () => {
      const o = await postOrder(h, T().kasir1, sampleOrder([{ product_id: 2, qty: 1 }]));
      const ack = await kitchen.timeout(WAIT).emitWithAck('line-done', { invoice_number: o.invoice_number, line: 1, done: true });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.equal(ack.order.status, 'ready', 'its only line done: ready');
      assert.equal(ack.order.lines[0].done, true);
      const bad = [
        [{ invoice_number: o.invoice_number, line: 0, done: true }, 'validation_failed'],
        [{ invoice_number: o.invoice_number, line: 1.5, done: true }, 'validation_failed'],
        [{ invoice_number: o.invoice_number, line: '1', done: true }, 'validation_failed'],
        [{ invoice_number: o.invoice_number, line: 1, done: 'no' }, 'validation_failed'],
        [{ invoice_number: o.invoice_number, line: 2, done: true }, 'not_found'],
        [{ invoice_number: 'INV-nope', line: 1, done: true }, 'not_found'],
        ['just a string', 'validation_failed'],
      ];
      for (const [payload, code] of bad) {
        const a = await kitchen.timeout(WAIT).emitWithAck('line-done', payload);
        assert.equal(a.ok, false, JSON.stringify(a));
        assert.equal(a.error.code, code, JSON.stringify([payload, a]));
      }
      const cashier = socketFor(h, T().kasir1);
      await connected(cashier);
      const a = await cashier.timeout(WAIT).emitWithAck('line-done', { invoice_number: o.invoice_number, line: 1, done: false });
      cashier.close();
      assert.equal(a.error.code, 'forbidden');
    });
  });

  describe('10.4 recall', () => {
    it('lists what was bumped in the last 30 minutes, newest first, with bumped_at, per outlet', async () => {
      const a = await postOrder(h, T().kasir1);
      const b = await postOrder(h, T().kasir1);
      const c2 = await postOrder(h, T().kasir2);
      assert.equal((await status(T().dapur1, a.invoice_number, 'ready')).status, 200);
      await sleep(5);
      const rb = await status(T().dapur1, b.invoice_number, 'ready');
      await sleep(5);
      const ra = await status(T().dapur1, a.invoice_number, 'completed');
      assert.equal((await status(T().dapur2, c2.invoice_number, 'ready')).status, 200);
      const r = await h.api('GET', '/api/v1/recall', { token: T().board1 });
      assert.equal(r.status, 200, r.text);
      assert.ok(r.json.length <= 20);
      assert.deepEqual(r.json.slice(0, 2).map((o) => [o.invoice_number, o.status]),
        [[a.invoice_number, 'completed'], [b.invoice_number, 'ready']]);
      assert.equal(r.json[0].bumped_at, ra.json.updated_at);
      assert.equal(r.json[1].bumped_at, rb.json.updated_at);
      assert.ok(r.json.every((o) => o.outlet_id === 1 && ['ready', 'completed'].includes(o.status)));
      assert.deepEqual(Object.keys(r.json[0]).slice(-1), ['bumped_at']);
      // another outlet's list; the admin's has both
      const r2 = await h.api('GET', '/api/v1/recall', { token: T().dapur2 });
      assert.deepEqual(r2.json.map((o) => o.invoice_number), [c2.invoice_number]);
      const all = await h.api('GET', '/api/v1/recall', { token: T().admin });
      assert.ok(all.json.some((o) => o.invoice_number === c2.invoice_number));
      // any screen recalls: back to preparing, and it leaves the list
      assert.equal((await status(T().dapur1, b.invoice_number, 'preparing')).status, 200);
      const after = await h.api('GET', '/api/v1/recall', { token: T().dapur1 });
      assert.ok(!after.json.some((o) => o.invoice_number === b.invoice_number));
    });
  });

  describe('10.6 the display role', () => {
    it('reads everything and writes nothing', async () => {
      const d = T().board1;
      const o = await postOrder(h, T().kasir1);
      for (const path of ['/api/v1/orders', `/api/v1/orders/${o.invoice_number}`, '/api/v1/stats', '/api/v1/recall',
        '/api/v1/settings', '/api/v1/categories', '/api/v1/products']) {
        const r = await h.api('GET', path, { token: d });
        assert.equal(r.status, 200, `${path}: ${r.status} ${r.text}`);
      }
      const writes = [
        ['POST', '/api/v1/orders', sampleOrder()],
        ['PATCH', `/api/v1/orders/${o.invoice_number}/status`, { status: 'preparing' }],
        ['PATCH', `/api/v1/orders/${o.invoice_number}/status`, { status: 'completed' }],
        ['PATCH', `/api/v1/orders/${o.invoice_number}/status`, { status: 'ready' }],
        ['PATCH', `/api/v1/orders/${o.invoice_number}/status`, { status: 'cancelled' }],
        ['PATCH', `/api/v1/orders/${o.invoice_number}/lines/1`, { done: false }],
        ['PATCH', `/api/v1/orders/${o.invoice_number}/priority`, { rush: true }],
        ['PATCH', `/api/v1/orders/${o.invoice_number}/lines/1`, { done: true }],
        ['DELETE', `/api/v1/orders/${o.invoice_number}`, undefined],
        ['POST', '/api/v1/categories', { name: 'BOARD' }],
        ['POST', '/api/v1/products', { name: 'x', price: 1, category_id: 1 }],
        ['PATCH', '/api/v1/products/1', { price: 1 }],
      ];
      for (const [method, path, body] of writes) {
        assertError(await h.api(method, path, { token: d, body }), 403, 'forbidden');
      }
      const still = await h.api('GET', `/api/v1/orders/${o.invoice_number}`, { token: d });
      assert.equal(still.json.status, 'new');
      assert.equal(still.json.rush, undefined);
      // its socket hears the outlet's orders and may not change one
      const s = socketFor(h, d);
      await connected(s);
      const heard = next(s, 'new-order');
      const o2 = await postOrder(h, T().kasir1);
      assert.equal((await heard).invoice_number, o2.invoice_number);
      for (const [event, payload] of [['order-status', { invoice_number: o2.invoice_number, status: 'preparing' }],
        ['line-done', { invoice_number: o2.invoice_number, line: 1, done: true }]]) {
        const ack = await s.timeout(WAIT).emitWithAck(event, payload);
        assert.equal(ack.ok, false);
        assert.equal(ack.error.code, 'forbidden', `${event}: ${JSON.stringify(ack)}`);
      }
      s.close();
      // a display token made by the CLI is a display too
      assert.equal((await h.api('GET', '/api/v1/settings', { token: d })).json.board_ready_for_s, 90);
    });
  });

  describe('settings', () => {
    it('GET /api/v1/settings tells the pages the options they need', async () => {
      const r = await h.api('GET', '/api/v1/settings', { token: T().dapur1 });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { board_ready_for_s: 90, late_after_s: 420, auto_complete_minutes: 0 });
      assert.equal((await h.api('GET', '/api/v1/settings', {})).status, 401);
    });
  });
});

describe('--auto-complete (SPEC 10.7)', SKIP, () => {
  let h;
  after(() => shutdown(h));

  it('completes a ready order left for the configured minutes, with one order-updated', async () => {
    h = await start({ args: ['--auto-complete', '1'] });
    const s = socketFor(h, h.tokens.dapur1);
    await connected(s);
    const o = await postOrder(h, h.tokens.kasir1);
    const kept = await postOrder(h, h.tokens.kasir1);
    assert.equal((await h.api('PATCH', `/api/v1/orders/${o.invoice_number}/status`,
      { token: h.tokens.dapur1, body: { status: 'ready' } })).status, 200);
    const t0 = Date.now();
    const done = await next(s, 'order-updated', (u) => u.invoice_number === o.invoice_number && u.status === 'completed', 90000);
    const waited = Date.now() - t0;
    s.close();
    assert.ok(waited >= 55000, `completed after ${waited} ms, not before the minute`);
    assert.equal(done.status, 'completed');
    const r = await h.api('GET', `/api/v1/orders/${kept.invoice_number}`, { token: h.tokens.dapur1 });
    assert.equal(r.json.status, 'new', 'an order that is not ready is left alone');
    await h.waitForLog(/auto-complete: 1 ready order completed/);
  });
});
