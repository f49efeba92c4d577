'use strict';
// Rate limits (SPEC 8, 11.7): failed logins per address per minute (10, then even the right
// password is 429 with Retry-After), orders per user per minute (--order-rate), and normal
// use (a burst of 150 orders, a dozen good logins) never limited.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, sampleOrder } = require('../lib/harness');

const servers = [];
after(async () => {
  for (const h of servers) await h.cleanup();
});

const login = (h, username, password) => h.api('POST', '/api/v1/auth/login', { body: { username, password } });

describe('login rate limit', () => {
  it('allows good logins, then 10 failures per minute, then 429 even for the right password', async () => {
    const h = await start({ users: [{ name: 'admin', role: 'admin', password: 'admin-secret' }] });
    servers.push(h);
    for (let i = 0; i < 12; i++) {
      assert.equal((await login(h, 'admin', 'admin-secret')).status, 200, 'successful logins are not counted');
    }
    for (let i = 0; i < 10; i++) {
      const r = await login(h, i % 2 ? 'admin' : 'nobody', 'wrong');
      assert.equal(r.status, 401, `failure ${i + 1} is a 401`);
    }
    const limited = await login(h, 'admin', 'admin-secret');
    assert.equal(limited.status, 429, limited.text);
    assert.equal(limited.json.error.code, 'rate_limited');
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    assert.equal((await login(h, 'nobody', 'x')).status, 429);
    // the tokens already issued keep working
    const cats = await h.api('GET', '/api/v1/categories', { token: h.tokens.admin });
    assert.equal(cats.status, 200);
  });
});

describe('order rate limit', () => {
  it('limits orders per user per minute with --order-rate', async () => {
    const h = await start({ args: ['--order-rate', '5'] });
    servers.push(h);
    for (let i = 0; i < 5; i++) {
      assert.equal((await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() })).status, 201);
    }
    const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.error.code, 'rate_limited');
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    const other = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir2, body: sampleOrder() });
    assert.equal(other.status, 201, 'the limit is per user');
    const list = await h.api('GET', '/api/v1/orders', { token: h.tokens.kasir1 });
    assert.equal(list.status, 200, 'reads are not limited');
    assert.equal(list.json.length, 5, 'the limited request created nothing');
  });

  it('never limits a burst of 150 orders by one user at the default rate', async () => {
    const h = await start();
    servers.push(h);
    const results = await Promise.all(Array.from({ length: 150 }, (_, i) =>
      h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder(undefined, { note: `burst ${i}` }) })));
    assert.deepEqual([...new Set(results.map((r) => r.status))], [201]);
    const invoices = new Set(results.map((r) => r.json.invoice_number));
    assert.equal(invoices.size, 150, 'every order has its own number');
  });
});
