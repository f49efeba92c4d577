'use strict';
// /metrics is honest: every series moves with what it counts (a scrape before and after the
// thing happens), and the seed's "Broadcasted" line is written only when a screen was told.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { start, sampleOrder } = require('../lib/harness');

/** Scrapes /metrics into {"name{labels}": number}. */
async function scrape(h) {
  const r = await h.api('GET', '/metrics');
  assert.equal(r.status, 200);
  const out = {};
  for (const line of r.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

const get = (m, k) => m[k] ?? 0;

/** Polls /metrics until pred(m) holds (bounded), returns the last scrape. */
async function until(h, pred, what, ms = 5000) {
  const t0 = Date.now();
  let m;
  do {
    m = await scrape(h);
    if (pred(m)) return m;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() - t0 < ms);
  assert.fail(`timed out waiting for ${what}; last scrape: ${JSON.stringify(m)}`);
}

const onceEvent = (s, ev, ms = 5000) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ${ev}`)), ms);
  s.once(ev, (...a) => { clearTimeout(t); resolve(a); });
});

describe('/metrics series move', () => {
  let h;
  before(async () => {
    h = await start({ args: ['--order-rate', '0', '--max-pending-sessions-per-address', '5', '--max-payload', '1000'] });
  });
  after(async () => h && h.cleanup());

  it('socket connects, clients, broadcasts by event, orders and status changes', async () => {
    const m0 = await scrape(h);
    const s = io(h.url, { auth: { token: h.tokens.dapur1 }, transports: ['websocket'], reconnection: false });
    await onceEvent(s, 'connect');
    const m1 = await until(h, (m) => get(m, 'kds_socket_clients') === get(m0, 'kds_socket_clients') + 1, 'a client');
    assert.equal(get(m1, 'kds_socket_connects_total'), get(m0, 'kds_socket_connects_total') + 1);

    const got = onceEvent(s, 'new-order');
    const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
    assert.equal(r.status, 201);
    await got;
    await h.waitForLog(new RegExp(`Broadcasted new order ${r.json.invoice_number} to 1 socket$`), 2000);
    const updated = onceEvent(s, 'order-updated');
    const p = await h.api('PATCH', `/api/v1/orders/${r.json.invoice_number}/status`,
      { token: h.tokens.dapur1, body: { status: 'preparing' } });
    assert.equal(p.status, 200);
    await updated;
    const m2 = await scrape(h);
    assert.equal(get(m2, 'kds_orders_created_total'), get(m0, 'kds_orders_created_total') + 1);
    assert.equal(get(m2, 'kds_broadcasts_total{event="new-order"}'), get(m0, 'kds_broadcasts_total{event="new-order"}') + 1);
    assert.equal(get(m2, 'kds_broadcasts_total{event="order-updated"}'),
      get(m0, 'kds_broadcasts_total{event="order-updated"}') + 1);
    assert.equal(get(m2, 'kds_order_status_changes_total{status="preparing"}'),
      get(m0, 'kds_order_status_changes_total{status="preparing"}') + 1);
    assert.equal(get(m2, 'kds_broadcast_failures_total'), 0, 'nothing failed');

    s.close();
    await until(h, (m) => get(m, 'kds_socket_clients') === get(m0, 'kds_socket_clients'), 'the client gone');
  });

  it('an order nobody watches is not logged as broadcast', async () => {
    const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir2, body: sampleOrder() });
    assert.equal(r.status, 201);
    await h.waitForLog(new RegExp(`new order ${r.json.invoice_number}: no screen of its outlet is connected`), 2000);
    assert.ok(!h.logs.some((l) => l.includes(`Broadcasted new order ${r.json.invoice_number}`)));
  });

  it('pending Engine.IO sessions: the gauge and the sessions the cap closed', async () => {
    const m0 = await scrape(h);
    const sids = [];
    for (let i = 0; i < 7; i++) {
      const r = await h.api('GET', '/socket.io/?EIO=4&transport=polling');
      assert.equal(r.status, 200);
      sids.push(JSON.parse(r.text.slice(1)).sid);
    }
    const m1 = await scrape(h);
    assert.equal(get(m1, 'kds_eio_pending_sessions'), 5, 'the cap per address');
    const closed = get(m1, 'kds_eio_pending_sessions_closed_total') - get(m0, 'kds_eio_pending_sessions_closed_total');
    assert.equal(closed, get(m0, 'kds_eio_pending_sessions') + 7 - 5, 'the oldest were closed');
    // a session that comes back leaves the gauge
    const back = await h.api('POST', `/socket.io/?EIO=4&transport=polling&sid=${sids[6]}`, { raw: '1', headers: { 'Content-Type': 'text/plain' } });
    assert.equal(back.status, 200, back.text);
    const m2 = await until(h, (m) => get(m, 'kds_eio_pending_sessions') === 4, 'the gauge down');
    assert.ok(m2);
  });

  it('a polling client that never fetches is dropped and counted as a slow client', async () => {
    const m0 = await scrape(h);
    const hs = await h.api('GET', '/socket.io/?EIO=4&transport=polling');
    const sid = JSON.parse(hs.text.slice(1)).sid;
    const c = await h.api('POST', `/socket.io/?EIO=4&transport=polling&sid=${sid}`,
      { raw: `40${JSON.stringify({ token: h.tokens.admin })}`, headers: { 'Content-Type': 'text/plain' } });
    assert.equal(c.status, 200, c.text);
    await h.waitForLog(/Client connected/, 2000);
    // big orders, queued for a client that never comes for them: its queue (2 MiB + 2 x
    // maxPayload) fills and the client is dropped
    const cat = (await h.api('POST', '/api/v1/categories', { token: h.tokens.admin, body: { name: 'BIG' } })).json.id;
    const ids = [];
    for (let i = 0; i < 60; i++) {
      const p = await h.api('POST', '/api/v1/products',
        { token: h.tokens.admin, body: { name: `${'P'.repeat(90)}${i}`, price: 1000, category_id: cat } });
      ids.push(p.json.id);
    }
    const body = sampleOrder(ids.map((id) => ({ product_id: id, qty: 1 })), { note: 'n'.repeat(400) });
    let dropped = false;
    for (let round = 0; round < 40 && !dropped; round++) {
      await Promise.all(Array.from({ length: 10 }, () => h.api('POST', '/api/v1/orders', { token: h.tokens.admin, body })));
      dropped = get(await scrape(h), 'kds_slow_clients_dropped_total') > get(m0, 'kds_slow_clients_dropped_total');
    }
    assert.ok(dropped, 'the slow client was dropped and counted');
    await h.waitForLog(/dropped: polling send queue over its packet or byte limit \(slow client\)/, 2000);
  });
});
