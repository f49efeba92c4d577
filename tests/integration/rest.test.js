'use strict';
// REST API (SPEC 3, 11) against the real server on loopback: auth and tokens, roles, the
// menu admin, order validation (every 422 field), idempotency keys, status transitions,
// voids, outlet scoping, listings (filters, paging, 400s) and the order JSON's grouping.
//
// By default against our kds-server; KDS_TARGET=node runs the same file against the Node
// reference, whose behaviour is the settled one (tests marked C-only check SPEC additions).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { start, sampleOrder, TARGET } = require('../lib/harness');
const { today, seqOf } = require('../lib/wait');

const C_ONLY = TARGET === 'node' ? { skip: 'SPEC addition the reference lacks' } : {};

let h;
const T = () => h.tokens; // admin, kasir1 (outlet 1), dapur1 (kitchen 1), kasir2, dapur2 (outlet 2)

const post = (token, body, headers) => h.api('POST', '/api/v1/orders', { token, body, headers });
const order = async (token = T().kasir1, body = sampleOrder()) => {
  const r = await post(token, body);
  assert.equal(r.status, 201, r.text);
  return r.json;
};
const patchStatus = (token, invoice, status) =>
  h.api('PATCH', `/api/v1/orders/${invoice}/status`, { token, body: { status } });

function assertError(r, status, code, field) {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 0);
  if (field === undefined) assert.equal(r.json.error.field, undefined, r.text);
  else assert.equal(r.json.error.field, field, r.text);
}

/** Sends raw request bytes; resolves with {status, json} of the first response. */
function rawHttp(text) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(h.port, '127.0.0.1', () => sock.write(text));
    let data = '';
    const t = setTimeout(() => { sock.destroy(); reject(new Error(`no answer; got ${data}`)); }, 8000);
    sock.on('data', (d) => {
      data += d;
      const end = data.indexOf('\r\n\r\n');
      const m = /content-length: *(\d+)/i.exec(data);
      if (end >= 0 && m && data.length >= end + 4 + Number(m[1])) {
        clearTimeout(t);
        sock.destroy();
        const body = data.slice(end + 4, end + 4 + Number(m[1]));
        resolve({ status: Number(data.split(' ')[1]), json: JSON.parse(body), text: body });
      }
    });
    sock.on('error', reject);
  });
}

before(async () => {
  h = await start({ args: ['--order-rate', '0'] });
});
after(async () => {
  await h?.cleanup();
});

describe('auth', () => {
  it('refuses requests without a valid bearer token', async () => {
    assertError(await h.api('GET', '/api/v1/orders'), 401, 'unauthorized');
    assertError(await h.api('GET', '/api/v1/orders', { headers: { Authorization: 'Basic YWRtaW46eA==' } }), 401, 'unauthorized');
    assertError(await h.api('GET', '/api/v1/orders', { token: 'not-a-token' }), 401, 'invalid_token');
    assertError(await h.api('GET', '/api/v1/orders', { token: 'x'.repeat(2000) }), 401, 'invalid_token');
    const ok = await h.api('GET', '/api/v1/orders', { headers: { Authorization: `bearer   ${T().dapur1}  ` } });
    assert.equal(ok.status, 200, 'the scheme is case-insensitive, blanks around the token are fine');
  });

  it('logs in with the right password and the session token works', async () => {
    const r = await h.api('POST', '/api/v1/auth/login', { body: { username: 'kasir1', password: 'cashier-secret' } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(r.json.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/);
    const hours = (Date.parse(r.json.expires_at) - Date.now()) / 3600e3;
    assert.ok(hours > 11.9 && hours <= 12, `a session lasts 12 h (${hours})`);
    assert.deepEqual(Object.keys(r.json.user), ['id', 'username', 'role', 'outlet_id']);
    assert.equal(r.json.user.username, 'kasir1');
    assert.equal(r.json.user.role, 'cashier');
    assert.equal(r.json.user.outlet_id, 1);
    const list = await h.api('GET', '/api/v1/categories', { token: r.json.token });
    assert.equal(list.status, 200);
    const admin = await h.api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'admin-secret' } });
    assert.equal(admin.json.user.outlet_id, null, 'an admin has no outlet');
  });

  it('refuses wrong credentials and malformed logins', async () => {
    assertError(await h.api('POST', '/api/v1/auth/login', { body: { username: 'kasir1', password: 'nope' } }),
      401, 'invalid_credentials');
    assertError(await h.api('POST', '/api/v1/auth/login', { body: { username: 'ghost', password: 'nope' } }),
      401, 'invalid_credentials');
    assertError(await h.api('POST', '/api/v1/auth/login', { body: { password: 'x' } }), 422, 'validation_failed', 'username');
    assertError(await h.api('POST', '/api/v1/auth/login', { body: { username: 'kasir1', password: '' } }),
      422, 'validation_failed', 'password');
    assertError(await h.api('POST', '/api/v1/auth/login', { body: { username: 5, password: 'x' } }),
      422, 'validation_failed', 'username');
    assertError(await h.api('POST', '/api/v1/auth/login', {
      raw: 'username=kasir1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }), 415, 'unsupported_media_type');
    assertError(await h.api('POST', '/api/v1/auth/login', { raw: '{"username":', headers: { 'Content-Type': 'application/json' } }),
      400, 'invalid_json');
    assertError(await h.api('POST', '/api/v1/auth/login', { raw: '["a"]', headers: { 'Content-Type': 'application/json' } }),
      400, 'invalid_json');
    // fetch sends Content-Length: 0 and no type: 415 as in the reference; no body at all: 400
    assertError(await h.api('POST', '/api/v1/auth/login'), 415, 'unsupported_media_type');
    assertError(await rawHttp('POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\n\r\n'), 400, 'invalid_json');
  });

  it('logout revokes the token at once and only that token', async () => {
    const token = await h.login('dapur1', 'kitchen-secret');
    assert.equal((await h.api('GET', '/api/v1/orders', { token })).status, 200);
    const r = await h.api('POST', '/api/v1/auth/logout', { token });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assertError(await h.api('GET', '/api/v1/orders', { token }), 401, 'invalid_token');
    assertError(await h.api('POST', '/api/v1/auth/logout', { token }), 401, 'invalid_token');
    assert.equal((await h.api('GET', '/api/v1/orders', { token: T().dapur1 })).status, 200, 'the device token still works');
  });
});

describe('menu', () => {
  it('lists the demo menu', async () => {
    const cats = await h.api('GET', '/api/v1/categories', { token: T().dapur1 });
    assert.equal(cats.status, 200);
    assert.deepEqual(cats.json.slice(0, 4), [
      { id: 1, name: 'ISI CORNDOG', sort_order: 1 }, { id: 2, name: 'BALUTAN', sort_order: 2 },
      { id: 3, name: 'SAUS ASIN', sort_order: 3 }, { id: 4, name: 'SAUS MANIS', sort_order: 4 },
    ]);
    const prods = await h.api('GET', '/api/v1/products', { token: T().kasir2 });
    assert.equal(prods.status, 200);
    assert.deepEqual(prods.json[0], { id: 1, name: 'Corndog Sosis', price: 6000, category_id: 1, category: 'ISI CORNDOG', active: true });
    assert.deepEqual(prods.json.slice(0, 8).map((p) => [p.id, p.name, p.price]), [
      [1, 'Corndog Sosis', 6000], [2, 'Corndog Mozzarella', 8000], [3, 'Mie', 2000], [4, 'Kentang', 3000],
      [5, 'Saus Tomat', 1000], [6, 'Mayonaise', 1000], [7, 'Coklat', 1000], [8, 'Susu Kental Manis', 1000],
    ]);
  });

  it('lets only an admin add categories, with the name rules', async () => {
    const add = (token, body) => h.api('POST', '/api/v1/categories', { token, body });
    assertError(await add(T().kasir1, { name: 'MINUMAN' }), 403, 'forbidden');
    assertError(await add(T().dapur1, { name: 'MINUMAN' }), 403, 'forbidden');
    const r = await add(T().admin, { name: '  MINUMAN ', sort_order: 10 });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(Object.keys(r.json), ['id', 'name', 'sort_order']);
    assert.equal(r.json.name, 'MINUMAN');
    assert.equal(r.json.sort_order, 10);
    assertError(await add(T().admin, { name: 'MINUMAN' }), 409, 'already_exists', 'name');
    for (const name of ['invoice_number', 'date', 'total_amount', 'status', 'lines', 'note', 'payment_method', 'outlet_id']) {
      assertError(await add(T().admin, { name }), 422, 'validation_failed', 'name');
    }
    assertError(await add(T().admin, { name: '' }), 422, 'validation_failed', 'name');
    assertError(await add(T().admin, { name: '   ' }), 422, 'validation_failed', 'name');
    assertError(await add(T().admin, { name: 'x'.repeat(101) }), 422, 'validation_failed', 'name');
    assertError(await add(T().admin, { name: 42 }), 422, 'validation_failed', 'name');
    assertError(await add(T().admin, { name: 'OK', sort_order: 'first' }), 422, 'validation_failed', 'sort_order');
    const auto = await add(T().admin, { name: 'DESSERT' });
    assert.equal(auto.status, 201);
    assert.equal(auto.json.sort_order, 11, 'without sort_order: after the last');
  });

  it('refuses SPEC 10 reserved names for categories', C_ONLY, async () => {
    for (const name of ['order_type', 'table', 'customer_name', 'rush', 'done_lines']) {
      assertError(await h.api('POST', '/api/v1/categories', { token: T().admin, body: { name } }), 422, 'validation_failed', 'name');
    }
  });

  it('adds, edits and deactivates products (admin only); inactive ones cannot be ordered', async () => {
    const cats = (await h.api('GET', '/api/v1/categories', { token: T().admin })).json;
    const drinks = cats.find((c) => c.name === 'MINUMAN');
    const add = (token, body) => h.api('POST', '/api/v1/products', { token, body });
    assertError(await add(T().kasir1, { name: 'Es Teh', price: 3000, category_id: drinks.id }), 403, 'forbidden');
    const r = await add(T().admin, { name: 'Es Teh', price: 3000, category_id: drinks.id });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.json, { id: r.json.id, name: 'Es Teh', price: 3000, category_id: drinks.id, category: 'MINUMAN', active: true });
    assertError(await add(T().admin, { name: 'X', price: -1, category_id: 1 }), 422, 'validation_failed', 'price');
    assertError(await add(T().admin, { name: 'X', price: 1.5, category_id: 1 }), 422, 'validation_failed', 'price');
    assertError(await add(T().admin, { name: 'X', price: '100', category_id: 1 }), 422, 'validation_failed', 'price');
    assertError(await add(T().admin, { name: 'X', price: 100, category_id: 999 }), 422, 'validation_failed', 'category_id');
    assertError(await add(T().admin, { name: 'X', price: 100 }), 422, 'validation_failed', 'category_id');
    assertError(await add(T().admin, { name: '', price: 100, category_id: 1 }), 422, 'validation_failed', 'name');
    assertError(await add(T().admin, { price: 100, category_id: 1 }), 422, 'validation_failed', 'name');

    const id = r.json.id;
    const patch = (token, pid, body) => h.api('PATCH', `/api/v1/products/${pid}`, { token, body });
    assertError(await patch(T().dapur1, id, { price: 3500 }), 403, 'forbidden');
    const p1 = await patch(T().admin, id, { price: 3500 });
    assert.equal(p1.status, 200, p1.text);
    assert.equal(p1.json.price, 3500);
    assert.equal(p1.json.name, 'Es Teh', 'fields not given stay');
    assertError(await patch(T().admin, id, { active: 'no' }), 422, 'validation_failed', 'active');
    assertError(await patch(T().admin, id, { category_id: 12345 }), 422, 'validation_failed', 'category_id');
    assertError(await patch(T().admin, 99999, { price: 1 }), 404, 'not_found');
    assertError(await patch(T().admin, 'abc', { price: 1 }), 404, 'not_found');

    // an order keeps the price it was made with
    const before = await order(T().kasir1, sampleOrder([{ product_id: id, qty: 2 }]));
    assert.equal(before.total_amount, 7000);
    const off = await patch(T().admin, id, { active: false });
    assert.equal(off.status, 200);
    assert.equal(off.json.active, false);
    const listed = (await h.api('GET', '/api/v1/products', { token: T().kasir1 })).json.find((p) => p.id === id);
    assert.equal(listed.active, false, 'a deactivated product stays listed');
    assertError(await post(T().kasir1, sampleOrder([{ product_id: id, qty: 1 }])), 422, 'validation_failed', 'items[0].product_id');
    await patch(T().admin, id, { price: 9999, active: true });
    const again = await h.api('GET', `/api/v1/orders/${before.invoice_number}`, { token: T().kasir1 });
    assert.equal(again.json.total_amount, 7000, 'history is not rewritten by menu edits');
    assert.equal(again.json.lines[0].price, 3500);
  });
});

describe('creating orders', () => {
  it('answers 201 with the seed-shaped order', async () => {
    const o = await order(T().kasir1, {
      payment_method: 'CASH', note: ' no onion ',
      items: [{ product_id: 7, qty: 1 }, { product_id: 5, qty: 1 }, { product_id: 1, qty: 1 }, { product_id: 3, qty: 1 }, { product_id: 6, qty: 1 }],
    });
    assert.match(o.invoice_number, new RegExp(`^INV-${today().replaceAll('-', '')}-\\d{4,}$`));
    assert.equal(o.date, today());
    assert.deepEqual(Object.keys(o), ['invoice_number', 'date', 'total_amount', 'ISI CORNDOG', 'BALUTAN', 'SAUS ASIN',
      'SAUS MANIS', 'status', 'created_at', 'updated_at', 'payment_method', 'outlet_id', 'note', 'lines']);
    assert.equal(o.total_amount, 11000);
    assert.deepEqual(o['ISI CORNDOG'], { quantity: 1, total_amount: 6000, items: ['Corndog Sosis'] });
    assert.deepEqual(o['SAUS ASIN'], { quantity: 2, total_amount: 2000, items: ['Saus Tomat', 'Mayonaise'] });
    assert.equal(o.status, 'new');
    assert.equal(o.note, 'no onion');
    assert.equal(o.outlet_id, 1);
    assert.equal(o.created_at, o.updated_at);
    assert.match(o.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/, 'local time with offset, never Z');
    assert.deepEqual(o.lines[0], { product_id: 7, name: 'Coklat', category: 'SAUS MANIS', qty: 1, price: 1000, subtotal: 1000 });
    assert.equal(o.lines.length, 5);
  });

  it('groups by category: qty > 1, the same product twice, many categories', async () => {
    const o = await order(T().kasir1, sampleOrder([
      { product_id: 8, qty: 2 }, { product_id: 1, qty: 3 }, { product_id: 2, qty: 1 }, { product_id: 1, qty: 2 },
      { product_id: 4, qty: 4 }, { product_id: 6, qty: 1 },
    ]));
    assert.deepEqual(Object.keys(o).slice(3, 7), ['ISI CORNDOG', 'BALUTAN', 'SAUS ASIN', 'SAUS MANIS']);
    assert.deepEqual(o['ISI CORNDOG'], { quantity: 6, total_amount: 5 * 6000 + 8000, items: ['Corndog Sosis', 'Corndog Mozzarella'] });
    assert.deepEqual(o.BALUTAN, { quantity: 4, total_amount: 12000, items: ['Kentang'] });
    assert.deepEqual(o['SAUS MANIS'], { quantity: 2, total_amount: 2000, items: ['Susu Kental Manis'] });
    assert.equal(o.lines.length, 5, 'product 1 twice is one line');
    assert.deepEqual(o.lines.find((l) => l.product_id === 1), { product_id: 1, name: 'Corndog Sosis', category: 'ISI CORNDOG', qty: 5, price: 6000, subtotal: 30000 });
    const sum = o.lines.reduce((s, l) => s + l.subtotal, 0);
    assert.equal(o.total_amount, sum);
    assert.equal(o.total_amount, 30000 + 8000 + 12000 + 1000 + 2000);
    assert.equal(o.note, undefined, 'no note key without a note');
  });

  it('refuses invalid bodies with 422 and the offending field', async () => {
    const cases = [
      [{}, 'payment_method'],
      [{ payment_method: 'cash', items: [{ product_id: 1, qty: 1 }] }, 'payment_method'],
      [{ payment_method: 'BITCOIN', items: [{ product_id: 1, qty: 1 }] }, 'payment_method'],
      [{ payment_method: 'CASH' }, 'items'],
      [{ payment_method: 'CASH', items: [] }, 'items'],
      [{ payment_method: 'CASH', items: { product_id: 1, qty: 1 } }, 'items'],
      [{ payment_method: 'CASH', items: [null] }, 'items[0]'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: 1 }, 'x'] }, 'items[1]'],
      [{ payment_method: 'CASH', items: [{ product_id: 999, qty: 1 }] }, 'items[0].product_id'],
      [{ payment_method: 'CASH', items: [{ product_id: '1', qty: 1 }] }, 'items[0].product_id'],
      [{ payment_method: 'CASH', items: [{ product_id: 1.5, qty: 1 }] }, 'items[0].product_id'],
      [{ payment_method: 'CASH', items: [{ qty: 1 }] }, 'items[0].product_id'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: 0 }] }, 'items[0].qty'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: 1000 }] }, 'items[0].qty'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: -1 }] }, 'items[0].qty'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: 2.5 }] }, 'items[0].qty'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: '2' }] }, 'items[0].qty'],
      [{ payment_method: 'CASH', items: [{ product_id: 1 }] }, 'items[0].qty'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: 1 }, { product_id: 2, qty: 1 }, { product_id: 3, qty: 1000 }] }, 'items[2].qty'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: 1 }], note: 42 }, 'note'],
      [{ payment_method: 'CASH', items: [{ product_id: 1, qty: 1 }], note: 'x'.repeat(501) }, 'note'],
    ];
    for (const [body, field] of cases) {
      assertError(await post(T().kasir1, body), 422, 'validation_failed', field);
    }
    for (const pm of ['CASH', 'QRIS', 'CARD', 'TRANSFER', 'EWALLET']) {
      assert.equal((await post(T().kasir1, sampleOrder(undefined, { payment_method: pm }))).status, 201, pm);
    }
  });

  it('allows 200 entries and refuses 201', async () => {
    const items = (n) => Array.from({ length: n }, (_, i) => ({ product_id: (i % 8) + 1, qty: 1 }));
    const ok = await post(T().kasir1, sampleOrder(items(200)));
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.lines.length, 8);
    assert.equal(ok.json.lines.reduce((s, l) => s + l.qty, 0), 200);
    assertError(await post(T().kasir1, sampleOrder(items(201))), 422, 'validation_failed', 'items');
  });

  it('refuses bodies that are not JSON objects, wrong types, and oversize bodies', async () => {
    const raw = (body, type) => h.api('POST', '/api/v1/orders', {
      token: T().kasir1, raw: body, headers: type ? { 'Content-Type': type } : {},
    });
    assertError(await raw('{"payment_method":"CASH"', 'application/json'), 400, 'invalid_json');
    assertError(await raw('[1,2]', 'application/json'), 400, 'invalid_json');
    assertError(await raw('"str"', 'application/json'), 400, 'invalid_json');
    assertError(await raw('payment_method=CASH', 'text/plain'), 415, 'unsupported_media_type');
    assertError(await rawHttp(`POST /api/v1/orders HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${T().kasir1}\r\n\r\n`),
      400, 'invalid_json');
    const big = JSON.stringify(sampleOrder(undefined, { note: 'x'.repeat(70 * 1024) }));
    const r = await raw(big, 'application/json');
    assert.equal(r.status, 413, r.text);
    assert.equal(r.json?.error?.code, 'payload_too_large');
  });

  it('checks roles before anything else', async () => {
    assertError(await post(T().dapur1, sampleOrder()), 403, 'forbidden');
    assertError(await post(T().dapur1, { nonsense: true }), 403, 'forbidden');
    assert.equal((await post(T().admin, sampleOrder())).json.outlet_id, 1, 'an admin creates orders in outlet 1');
    assert.equal((await post(T().kasir2, sampleOrder())).json.outlet_id, 2, 'an order takes its creator outlet');
  });
});

describe('idempotency keys', () => {
  it('replays the first order (200, Idempotent-Replayed) and uses no number', async () => {
    const key = `k-${Date.now()}`;
    const body = sampleOrder([{ product_id: 2, qty: 2 }], { note: 'idem' });
    const first = await post(T().kasir1, body, { 'Idempotency-Key': key });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.headers.get('idempotent-replayed'), null);
    const again = await post(T().kasir1, { note: 'idem', items: [{ qty: 2, product_id: 2 }], payment_method: 'CASH' },
      { 'Idempotency-Key': key });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.json, first.json, 'the same order, key order of the body does not matter');
    assertError(await post(T().kasir1, sampleOrder([{ product_id: 2, qty: 3 }], { note: 'idem' }), { 'Idempotency-Key': key }),
      409, 'idempotency_key_reused');
    const other = await post(T().kasir2, body, { 'Idempotency-Key': key });
    assert.equal(other.status, 201, 'keys are per user');
    const next = await order(T().kasir1);
    assert.equal(seqOf(next.invoice_number), seqOf(other.json.invoice_number) + 1, 'replays and 409s used no number');
  });

  it('returns the order as it is now', async () => {
    const key = `now-${Date.now()}`;
    const first = await post(T().kasir1, sampleOrder(), { 'Idempotency-Key': key });
    assert.equal((await patchStatus(T().dapur1, first.json.invoice_number, 'preparing')).status, 200);
    const again = await post(T().kasir1, sampleOrder(), { 'Idempotency-Key': key });
    assert.equal(again.status, 200);
    assert.equal(again.json.status, 'preparing');
  });

  it('refuses keys outside 1..255 characters', async () => {
    assertError(await post(T().kasir1, sampleOrder(), { 'Idempotency-Key': 'k'.repeat(256) }), 400, 'invalid_idempotency_key', 'Idempotency-Key');
    assert.equal((await post(T().kasir1, sampleOrder(), { 'Idempotency-Key': `${'k'.repeat(240)}${Date.now()}` })).status, 201);
  });
});

describe('status transitions and roles', () => {
  it('follows the transition table with role checks first', async () => {
    const o = await order();
    const inv = o.invoice_number;
    assertError(await patchStatus(T().dapur1, inv, 'cancelled'), 403, 'forbidden');
    assertError(await patchStatus(T().kasir1, inv, 'preparing'), 403, 'forbidden');
    assertError(await patchStatus(T().dapur1, inv, 'done'), 422, 'validation_failed', 'status');
    assertError(await patchStatus(T().dapur1, inv, undefined), 422, 'validation_failed', 'status');
    const prep = await patchStatus(T().dapur1, inv, 'preparing');
    assert.equal(prep.status, 200, prep.text);
    assert.equal(prep.json.status, 'preparing');
    assert.equal(prep.json.invoice_number, inv);
    assert.ok(prep.json.updated_at >= prep.json.created_at);
    const again = await patchStatus(T().dapur1, inv, 'preparing');
    assertError(again, 409, 'invalid_transition');
    assert.equal(again.json.error.current_status, 'preparing');
    assert.match(again.json.error.message, /preparing/);
    assert.equal((await patchStatus(T().dapur1, inv, 'ready')).json.status, 'ready');
    assert.equal((await patchStatus(T().dapur1, inv, 'preparing')).json.status, 'preparing', 'recall ready -> preparing');
    assert.equal((await patchStatus(T().dapur1, inv, 'ready')).status, 200);
    assert.equal((await patchStatus(T().kasir1, inv, 'completed')).json.status, 'completed');
    assert.equal((await patchStatus(T().dapur1, inv, 'ready')).json.status, 'ready', 'recall completed -> ready');
    assert.equal((await patchStatus(T().dapur1, inv, 'completed')).status, 200);
    const late = await patchStatus(T().admin, inv, 'cancelled');
    assertError(late, 409, 'invalid_transition');
    assert.equal(late.json.error.current_status, 'completed');
  });

  it('lets cashiers and admins cancel open orders; cancelled is final', async () => {
    const a = await order();
    assert.equal((await patchStatus(T().kasir1, a.invoice_number, 'cancelled')).json.status, 'cancelled');
    for (const s of ['new', 'preparing', 'ready', 'completed']) {
      const r = await patchStatus(T().admin, a.invoice_number, s);
      assertError(r, 409, 'invalid_transition');
      assert.equal(r.json.error.current_status, 'cancelled');
    }
    const b = await order();
    assert.equal((await patchStatus(T().admin, b.invoice_number, 'ready')).json.status, 'ready', 'new -> ready');
    assert.equal((await patchStatus(T().admin, b.invoice_number, 'cancelled')).json.status, 'cancelled');
    const c = await order();
    assertError(await patchStatus(T().admin, c.invoice_number, 'completed'), 409, 'invalid_transition');
    assertError(await patchStatus(T().admin, c.invoice_number, 'new'), 409, 'invalid_transition');
  });

  it('voids orders (admin only): gone from reads and listings, number not reused', async () => {
    const o = await order();
    assertError(await h.api('DELETE', `/api/v1/orders/${o.invoice_number}`, { token: T().kasir1 }), 403, 'forbidden');
    assertError(await h.api('DELETE', `/api/v1/orders/${o.invoice_number}`, { token: T().dapur1 }), 403, 'forbidden');
    const r = await h.api('DELETE', `/api/v1/orders/${o.invoice_number}`, { token: T().admin });
    assert.equal(r.status, 204);
    assertError(await h.api('GET', `/api/v1/orders/${o.invoice_number}`, { token: T().admin }), 404, 'not_found');
    assertError(await h.api('DELETE', `/api/v1/orders/${o.invoice_number}`, { token: T().admin }), 404, 'not_found');
    assertError(await patchStatus(T().admin, o.invoice_number, 'preparing'), 404, 'not_found');
    const list = await h.api('GET', `/api/v1/orders?limit=1000&date=${today()}`, { token: T().admin });
    assert.ok(!list.json.some((x) => x.invoice_number === o.invoice_number));
    const next = await order();
    assert.equal(seqOf(next.invoice_number), seqOf(o.invoice_number) + 1);
  });

  it('answers 405 with Allow for an unsupported method on a known path', async () => {
    const r = await h.api('PUT', '/api/v1/orders', { token: T().admin, body: {} });
    assert.equal(r.status, 405);
    assert.match(r.headers.get('allow'), /GET/);
    assert.match(r.headers.get('allow'), /POST/);
  });
});

describe('outlet scoping', () => {
  it('hides other outlets from outlet-bound users and shows everything to admins', async () => {
    const o1 = await order(T().kasir1);
    const o2 = await order(T().kasir2);
    assertError(await h.api('GET', `/api/v1/orders/${o1.invoice_number}`, { token: T().kasir2 }), 404, 'not_found');
    assertError(await h.api('GET', `/api/v1/orders/${o1.invoice_number}`, { token: T().dapur2 }), 404, 'not_found');
    assertError(await patchStatus(T().dapur2, o1.invoice_number, 'preparing'), 404, 'not_found');
    assert.equal((await h.api('GET', `/api/v1/orders/${o1.invoice_number}`, { token: T().dapur1 })).status, 200);
    assert.equal((await h.api('GET', `/api/v1/orders/${o2.invoice_number}`, { token: T().admin })).status, 200);
    const l2 = (await h.api('GET', '/api/v1/orders?limit=1000', { token: T().dapur2 })).json;
    assert.ok(l2.length > 0 && l2.every((x) => x.outlet_id === 2), 'outlet 2 lists only outlet 2');
    const la = (await h.api('GET', '/api/v1/orders?limit=1000', { token: T().admin })).json;
    assert.ok(la.some((x) => x.outlet_id === 1) && la.some((x) => x.outlet_id === 2), 'admin lists every outlet');
  });
});

describe('listing', () => {
  it('lists newest first with status, date, limit and before', async () => {
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await order(T().kasir2));
    await patchStatus(T().dapur2, made[1].invoice_number, 'preparing');
    await patchStatus(T().dapur2, made[3].invoice_number, 'ready');
    const get = (q) => h.api('GET', `/api/v1/orders${q}`, { token: T().kasir2 });
    const all = (await get('')).json;
    assert.deepEqual(all.slice(0, 5).map((o) => o.invoice_number), made.map((o) => o.invoice_number).reverse());
    const open = (await get('?status=preparing,ready')).json.map((o) => o.invoice_number);
    assert.deepEqual(open.slice(0, 2), [made[3].invoice_number, made[1].invoice_number]);
    assert.ok((await get('?status=preparing, ready&limit=1000')).json.every((o) => ['preparing', 'ready'].includes(o.status)));
    const repeated = (await get('?status=preparing&status=ready')).json.map((o) => o.invoice_number);
    assert.deepEqual(repeated.slice(0, 2), open.slice(0, 2), 'a repeated parameter is one list');
    assert.deepEqual((await get('?st%61tus=read%79&limit=1')).json.map((o) => o.invoice_number), [made[3].invoice_number],
      'names and values are percent-decoded');
    const two = (await get('?limit=2')).json;
    assert.deepEqual(two.map((o) => o.invoice_number), [made[4].invoice_number, made[3].invoice_number]);
    const page = (await get(`?limit=2&before=${made[3].invoice_number}`)).json;
    assert.deepEqual(page.map((o) => o.invoice_number), [made[2].invoice_number, made[1].invoice_number], 'before is exclusive');
    assert.equal((await get(`?date=${today()}&limit=1`)).json.length, 1);
    assert.deepEqual((await get('?date=1999-01-01')).json, []);
    assert.equal((await get('?limit=5000')).status, 200, 'a limit above 1000 is cut, not refused');
    assert.ok(all.length <= 100, 'default limit 100');
  });

  it('refuses bad filters with 400 and the field', async () => {
    const get = (q) => h.api('GET', `/api/v1/orders${q}`, { token: T().admin });
    assertError(await get('?status=bogus'), 400, 'invalid_query', 'status');
    assertError(await get('?status=new,bogus'), 400, 'invalid_query', 'status');
    assertError(await get('?status='), 400, 'invalid_query', 'status');
    assertError(await get('?date=2024-1-01'), 400, 'invalid_query', 'date');
    assertError(await get('?date=today'), 400, 'invalid_query', 'date');
    assertError(await get('?limit=0'), 400, 'invalid_query', 'limit');
    assertError(await get('?limit=-5'), 400, 'invalid_query', 'limit');
    assertError(await get('?limit=ten'), 400, 'invalid_query', 'limit');
    assertError(await get('?limit=1&limit=2'), 400, 'invalid_query', 'limit');
    assertError(await get('?before=INV-19990101-0001'), 400, 'invalid_query', 'before');
  });

  it('pages with before in creation order, past 9999-style text order', async () => {
    // `before` follows ids, so walking pages of 3 visits every order exactly once, newest first
    const seen = [];
    let before = '';
    for (let i = 0; i < 100; i++) {
      const page = (await h.api('GET', `/api/v1/orders?limit=3&date=${today()}${before}`, { token: T().admin })).json;
      if (page.length === 0) break;
      seen.push(...page.map((o) => o.invoice_number));
      before = `&before=${page[page.length - 1].invoice_number}`;
    }
    assert.equal(new Set(seen).size, seen.length, 'no order twice');
    const seqs = seen.map(seqOf);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first across pages');
  });

  it('reads one order by invoice number; unknown is 404', async () => {
    const o = await order();
    const r = await h.api('GET', `/api/v1/orders/${o.invoice_number}`, { token: T().dapur1 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, o);
    assertError(await h.api('GET', '/api/v1/orders/INV-20000101-0001', { token: T().admin }), 404, 'not_found');
  });
});

describe('shutdown', () => {
  it('exits 0 on SIGTERM after all of the above, with no sanitizer report', async () => {
    const r = await h.stop();
    assert.equal(r.code, 0, `exit ${JSON.stringify(r)}; last lines:\n${h.logs.slice(-20).join('\n')}`);
    const bad = h.logs.filter((l) => /Sanitizer|runtime error:/.test(l));
    assert.deepEqual(bad, []);
  });
});
