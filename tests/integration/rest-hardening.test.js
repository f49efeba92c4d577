'use strict';
// Hardening of the REST API (issue 8): money never overflows (SPEC 11.23), dates are real
// calendar days (11.24), `before` is no existence oracle across outlets (11.4, 11.13), and a
// database deleted under the running server refuses orders instead of acknowledging orders
// that a restart would lose.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { start, sampleOrder } = require('../lib/harness');

const MAX = 9007199254740991; // 2^53 - 1

describe('money is checked (SPEC 11.23)', () => {
  let h;
  let cat;
  before(async () => {
    h = await start({ args: ['--order-rate', '0'] });
    const c = await h.api('POST', '/api/v1/categories', { token: h.tokens.admin, body: { name: 'LUX' } });
    assert.equal(c.status, 201, c.text);
    cat = c.json.id;
  });
  after(async () => h && h.cleanup());

  const product = async (price) =>
    h.api('POST', '/api/v1/products', { token: h.tokens.admin, body: { name: `P${price}`, price, category_id: cat } });
  const order = (items) => h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder(items) });

  it('prices: 2^53-1 accepted, 2^53 and past it refused on price, non-integers refused', async () => {
    assert.equal((await product(MAX)).status, 201);
    for (const bad of [MAX + 1, 1e300, -1, 1.5]) {
      const r = await product(bad);
      assert.equal(r.status, 422, `price ${bad}: ${r.text}`);
      assert.equal(r.json.error.field, 'price');
    }
    const p = (await product(1000)).json;
    const up = await h.api('PATCH', `/api/v1/products/${p.id}`, { token: h.tokens.admin, body: { price: MAX + 1 } });
    assert.equal(up.status, 422, up.text);
    assert.equal(up.json.error.field, 'price');
  });

  it('an order of exactly 2^53-1 is 201 with the exact total', async () => {
    const gold = (await product(MAX)).json;
    const r = await order([{ product_id: gold.id, qty: 1 }]);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.total_amount, MAX);
    assert.equal(r.json.LUX.total_amount, MAX);
    assert.equal(r.json.lines[0].subtotal, MAX);
  });

  it('the review case: a 2^53-1 price at qty 999 twice is 422 on items, nothing stored', async () => {
    const gold = (await product(MAX)).json;
    const listed = (await h.api('GET', '/api/v1/orders', { token: h.tokens.admin })).json.length;
    const r = await order([{ product_id: gold.id, qty: 999 }, { product_id: gold.id, qty: 999 }]);
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.error.field, 'items');
    assert.equal((await h.api('GET', '/api/v1/orders', { token: h.tokens.admin })).json.length, listed);
  });

  it('lines that fit alone but not together: 422 on items; the server keeps answering', async () => {
    const half = (await product(Math.floor(MAX / 2))).json;
    const ok = await order([{ product_id: half.id, qty: 1 }, { product_id: half.id, qty: 1 }]);
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.total_amount, MAX - 1);
    const one = (await product(2)).json;
    const r = await order([{ product_id: half.id, qty: 2 }, { product_id: one.id, qty: 1 }]);
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.error.field, 'items');
    assert.equal((await h.api('GET', '/healthz')).status, 200);
  });
});

describe('dates and listings (SPEC 11.24, 11.13)', () => {
  let h;
  let inv1;
  let inv2;
  before(async () => {
    h = await start();
    inv1 = (await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() })).json.invoice_number;
    inv2 = (await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir2, body: sampleOrder() })).json.invoice_number;
    assert.ok(inv1 && inv2);
  });
  after(async () => h && h.cleanup());

  it('impossible dates are 400 on date; real ones (leap day too) are 200', async () => {
    for (const d of ['2024-02-30', '2023-02-29', '9999-99-99', '2023-13-01', '2023-00-10', '2023-04-31', '0000-01-01',
      '2023-01-00']) {
      const r = await h.api('GET', `/api/v1/orders?date=${d}`, { token: h.tokens.admin });
      assert.equal(r.status, 400, `${d}: ${r.text}`);
      assert.equal(r.json.error.field, 'date');
    }
    for (const d of ['2024-02-29', '2000-02-29', '2023-12-31', '0001-01-01']) {
      const r = await h.api('GET', `/api/v1/orders?date=${d}`, { token: h.tokens.admin });
      assert.equal(r.status, 200, `${d}: ${r.text}`);
    }
    const bad = await h.api('GET', '/api/v1/orders?date=1900-02-29', { token: h.tokens.admin });
    assert.equal(bad.status, 400, '1900 was not a leap year');
  });

  it("another outlet's invoice in before= is as unknown as a made-up one", async () => {
    const foreign = await h.api('GET', `/api/v1/orders?before=${inv2}`, { token: h.tokens.kasir1 });
    const unknown = await h.api('GET', '/api/v1/orders?before=INV-19990101-0001', { token: h.tokens.kasir1 });
    assert.equal(unknown.status, 400);
    assert.equal(foreign.status, 400, foreign.text);
    assert.equal(foreign.json.error.field, 'before');
    assert.equal(foreign.json.error.code, unknown.json.error.code);
    // its own outlet's invoice and an admin (every outlet) still page
    assert.equal((await h.api('GET', `/api/v1/orders?before=${inv1}`, { token: h.tokens.kasir1 })).status, 200);
    assert.equal((await h.api('GET', `/api/v1/orders?before=${inv2}`, { token: h.tokens.admin })).status, 200);
  });
});

describe('the database deleted under the running server', () => {
  it('refuses orders with 503, says so in /healthz and the log, keeps serving, exits 0', async () => {
    const h = await start();
    try {
      const first = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
      assert.equal(first.status, 201, first.text);
      assert.equal((await h.api('GET', '/healthz')).status, 200);
      for (const f of [h.db, `${h.db}-wal`, `${h.db}-shm`]) fs.rmSync(f, { force: true });

      const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
      assert.equal(r.status, 503, `an order after the file is gone must not be acknowledged: ${r.text}`);
      assert.equal(r.json.error.code, 'storage_unavailable');
      const again = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
      assert.equal(again.status, 503, 'it stays refused');
      const change = await h.api('PATCH', `/api/v1/orders/${first.json.invoice_number}/status`,
        { token: h.tokens.dapur1, body: { status: 'preparing' } });
      assert.equal(change.status, 503, `status changes are writes too: ${change.text}`);

      const health = await h.api('GET', '/healthz');
      assert.equal(health.status, 503, health.text);
      assert.notEqual(health.json.status, 'ok');
      assert.match(health.json.message, /deleted/);
      await h.waitForLog(/database: .*deleted.*refusing every write/, 2000);
    } finally {
      await h.cleanup();
    }
  });

  it('a server started on a path that does not exist says it is creating a new database', async () => {
    const h = await start({ users: [] }); // no CLI run first: the server creates the file
    try {
      await h.waitForLog(/does not exist; creating a new, empty database/, 2000);
    } finally {
      await h.cleanup();
    }
  });
});
