'use strict';
// GET /api/v1/stats (SPEC 10.5) against the real server: a burst of orders over two outlets
// with cancellations, a void, bumps (some late, one recalled and bumped again, one made
// ready by its lines), and the figures computed here, independently, from what the API
// answered (created_at and the updated_at of each order's first move to ready). Also the
// scoping (outlet, admin's outlet_id), the 400s and the display role.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, DEFAULT_USERS, TARGET } = require('../lib/harness');
const { sleep, today, postOrder, shutdown } = require('../lib/wait');

const SKIP = TARGET === 'node' ? { skip: 'SPEC 10 is not in the Node reference' } : {};
const USERS = [...DEFAULT_USERS, { name: 'board1', role: 'display', outlet: 1, password: 'display-secret' }];
const METHODS = ['CASH', 'QRIS', 'CARD', 'TRANSFER', 'EWALLET'];
const CATEGORY_ORDER = ['ISI CORNDOG', 'BALUTAN', 'SAUS ASIN', 'SAUS MANIS']; // the demo menu's sort_order
const LATE_AFTER = 1; // s: the orders bumped after a pause are late

/** The figures as SPEC 10.5 defines them, from orders and their first-ready times. */
function expected(date, outletId, orders, readyAt) {
  const count = { new: 0, preparing: 0, ready: 0, completed: 0, cancelled: 0 };
  const byMethod = {};
  const cats = new Map();
  const hours = new Map();
  const tickets = [];
  let sales = 0;
  for (const o of orders) {
    count[o.status]++;
    if (o.status === 'cancelled') continue;
    sales += o.total_amount;
    byMethod[o.payment_method] = (byMethod[o.payment_method] || 0) + o.total_amount;
    for (const l of o.lines) {
      const c = cats.get(l.category) || { name: l.category, quantity: 0, total_amount: 0 };
      c.quantity += l.qty;
      c.total_amount += l.subtotal;
      cats.set(l.category, c);
    }
    const hour = Number(o.created_at.slice(11, 13));
    const hr = hours.get(hour) || { hour, orders: 0, total_amount: 0 };
    hr.orders++;
    hr.total_amount += o.total_amount;
    hours.set(hour, hr);
    if (readyAt.has(o.invoice_number)) tickets.push(Date.parse(readyAt.get(o.invoice_number)) - Date.parse(o.created_at));
  }
  tickets.sort((a, b) => a - b);
  const rank = (p) => tickets[Math.max(1, Math.ceil((p * tickets.length) / 100)) - 1] / 1000;
  const sum = tickets.reduce((a, b) => a + b, 0);
  const orderedMethods = {};
  for (const m of METHODS) if (m in byMethod) orderedMethods[m] = byMethod[m];
  return {
    date,
    outlet_id: outletId,
    orders: { total: orders.length, ...count },
    sales: { total_amount: sales, by_payment_method: orderedMethods },
    ticket_time: {
      count: tickets.length,
      avg_s: tickets.length ? Math.round(sum / tickets.length) / 1000 : null,
      p50_s: tickets.length ? rank(50) : null,
      p90_s: tickets.length ? rank(90) : null,
      late: tickets.filter((t) => t > LATE_AFTER * 1000).length,
      late_after_s: LATE_AFTER,
    },
    // in the menu's display order
    categories: [...cats.values()].sort((a, b) => CATEGORY_ORDER.indexOf(a.name) - CATEGORY_ORDER.indexOf(b.name)),
    hours: [...hours.values()].sort((a, b) => a.hour - b.hour),
  };
}

describe('GET /api/v1/stats (SPEC 10.5)', SKIP, () => {
  let h;
  const T = () => h.tokens;
  const patch = (token, inv, status) => h.api('PATCH', `/api/v1/orders/${inv}/status`, { token, body: { status } });
  const readyAt = new Map(); // invoice -> updated_at of its first move to ready
  const bump = async (token, inv) => {
    const r = await patch(token, inv, 'ready');
    assert.equal(r.status, 200, r.text);
    if (!readyAt.has(inv)) readyAt.set(inv, r.json.updated_at);
  };

  before(async () => {
    h = await start({ users: USERS, args: ['--order-rate', '0', '--late-after', String(LATE_AFTER)] });
    const mine = [];
    for (let i = 0; i < 40; i++) {
      const items = [{ product_id: 1 + (i % 8), qty: 1 + (i % 3) }];
      if (i % 4 === 0) items.push({ product_id: 3, qty: 2, modifiers: ['pedas'] });
      const who = i % 5 === 4 ? T().kasir2 : T().kasir1;
      const o = await postOrder(h, who, { payment_method: METHODS[i % 5 === 4 ? 0 : i % 4], items });
      if (who === T().kasir1) mine.push(o);
    }
    // outlet 1: 4 cancelled (one of them after ready), 1 voided, bumps now and after a pause
    for (const o of mine.slice(0, 3)) assert.equal((await patch(T().kasir1, o.invoice_number, 'cancelled')).status, 200);
    for (const o of mine.slice(3, 12)) await bump(T().dapur1, o.invoice_number);
    await bump(T().dapur1, mine[12].invoice_number);
    assert.equal((await patch(T().kasir1, mine[12].invoice_number, 'cancelled')).status, 200);
    readyAt.delete(mine[12].invoice_number); // cancelled: not a ticket
    assert.equal((await h.api('DELETE', `/api/v1/orders/${mine[13].invoice_number}`, { token: T().admin })).status, 204);
    for (const o of mine.slice(5, 9)) assert.equal((await patch(T().kasir1, o.invoice_number, 'completed')).status, 200);
    await sleep(1200);
    for (const o of mine.slice(14, 18)) await bump(T().dapur1, o.invoice_number);
    // recalled and bumped again: its first ready is its ticket time
    assert.equal((await patch(T().dapur1, mine[14].invoice_number, 'preparing')).status, 200);
    await bump(T().dapur1, mine[14].invoice_number);
    // made ready by its lines
    const byLines = mine[18];
    let r;
    for (let n = 1; n <= byLines.lines.length; n++) {
      r = await h.api('PATCH', `/api/v1/orders/${byLines.invoice_number}/lines/${n}`, { token: T().dapur1, body: { done: true } });
      assert.equal(r.status, 200, r.text);
    }
    assert.equal(r.json.status, 'ready');
    readyAt.set(byLines.invoice_number, r.json.updated_at);
    await patch(T().dapur1, mine[19].invoice_number, 'preparing');
  });
  after(() => shutdown(h));

  const listing = async (token) => {
    const r = await h.api('GET', `/api/v1/orders?date=${today()}&limit=1000`, { token });
    assert.equal(r.status, 200);
    return r.json;
  };

  it('equals the figures computed from the orders, for an outlet', async () => {
    const r = await h.api('GET', '/api/v1/stats', { token: T().kasir1 });
    assert.equal(r.status, 200, r.text);
    const want = expected(today(), 1, await listing(T().kasir1), readyAt);
    assert.deepEqual(r.json, want);
    assert.equal(r.json.orders.total, 31, '32 posted to outlet 1, one voided');
    assert.equal(r.json.orders.cancelled, 4);
    assert.ok(r.json.ticket_time.late >= 5 && r.json.ticket_time.late < r.json.ticket_time.count, JSON.stringify(r.json.ticket_time));
    // the same for the display and the kitchen of the outlet, and for ?date=today
    for (const token of [T().board1, T().dapur1]) {
      assert.deepEqual((await h.api('GET', `/api/v1/stats?date=${today()}`, { token })).json, want);
    }
  });

  it('is every outlet for an admin, or the one it names', async () => {
    const all = await h.api('GET', '/api/v1/stats', { token: T().admin });
    assert.deepEqual(all.json, expected(today(), null, await listing(T().admin), readyAt));
    const two = await h.api('GET', '/api/v1/stats?outlet_id=2', { token: T().admin });
    assert.deepEqual(two.json, expected(today(), 2, await listing(T().kasir2), readyAt));
    assert.equal(two.json.orders.total, 8);
    assert.equal(two.json.ticket_time.count, 0);
    assert.equal(two.json.ticket_time.p90_s, null);
  });

  it('refuses bad queries and other outlets', async () => {
    const bad = [['date=2024-02-30', 'date'], ['date=today', 'date'], ['date=', 'date'],
      ['outlet_id=abc', 'outlet_id'], ['outlet_id=0', 'outlet_id'], ['outlet_id=-1', 'outlet_id'],
      ['outlet_id=99999999999999999999', 'outlet_id']];
    for (const [q, field] of bad) {
      const r = await h.api('GET', `/api/v1/stats?${q}`, { token: T().admin });
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.equal(r.json.error.field, field);
    }
    const other = await h.api('GET', '/api/v1/stats?outlet_id=2', { token: T().kasir1 });
    assert.equal(other.status, 403);
    assert.equal((await h.api('GET', '/api/v1/stats', {})).status, 401);
    const empty = await h.api('GET', '/api/v1/stats?date=2020-01-01', { token: T().kasir1 });
    assert.deepEqual(empty.json.orders, { total: 0, new: 0, preparing: 0, ready: 0, completed: 0, cancelled: 0 });
    assert.deepEqual([empty.json.categories, empty.json.hours], [[], []]);
  });
});
