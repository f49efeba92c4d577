'use strict';
// How long GET /api/v1/stats takes for a busy day (SPEC 10.5; issue 10's goal: under 50 ms
// for 10,000 orders). A measurement, not a test: it prints figures and never fails on time.
//
//   node tests/bench/stats-bench.js [ORDERS=10000] [RUNS=30]
//   KDS_SERVER_BIN=build/kds-server (default), the release build.
//
// It fills a fresh server through the REST API (16 requests in flight, two outlets, every
// payment method, 2-3 lines an order, a fifth of the orders bumped to ready and some
// cancelled), then times RUNS sequential GET /api/v1/stats for the whole day as an admin
// (every outlet: the largest scan) and as a cashier (one outlet), on loopback.

const { start } = require('../lib/harness');
const { shutdown } = require('../lib/wait');

const ORDERS = Number(process.argv[2] || 10000);
const RUNS = Number(process.argv[3] || 30);
const METHODS = ['CASH', 'QRIS', 'CARD', 'TRANSFER', 'EWALLET'];

async function pool(n, width, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

function pct(sorted, p) {
  return sorted[Math.max(1, Math.ceil((p * sorted.length) / 100)) - 1];
}

async function timeStats(h, token, label) {
  const times = [];
  let body = null;
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    const r = await h.api('GET', '/api/v1/stats', { token });
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== 200) throw new Error(`stats: ${r.status} ${r.text}`);
    body = r.json;
  }
  times.sort((a, b) => a - b);
  console.log(`${label}: ${body.orders.total} orders, ${body.ticket_time.count} tickets; ` +
    `GET /api/v1/stats p50 ${pct(times, 50).toFixed(1)} ms, p90 ${pct(times, 90).toFixed(1)} ms, ` +
    `max ${times[times.length - 1].toFixed(1)} ms over ${RUNS} runs`);
}

(async () => {
  const h = await start({ args: ['--order-rate', '0'] });
  try {
    const t0 = Date.now();
    await pool(ORDERS, 16, async (i) => {
      const token = i % 3 === 2 ? h.tokens.kasir2 : h.tokens.kasir1;
      const items = [{ product_id: 1 + (i % 8), qty: 1 + (i % 3) }, { product_id: 1 + ((i * 7) % 8), qty: 1 }];
      if (i % 2) items.push({ product_id: 3, qty: 1, modifiers: ['pedas'] });
      const r = await h.api('POST', '/api/v1/orders', { token, body: { payment_method: METHODS[i % 5], items } });
      if (r.status !== 201) throw new Error(`POST: ${r.status} ${r.text}`);
      if (i % 5 === 0) {
        const kitchen = i % 3 === 2 ? h.tokens.dapur2 : h.tokens.dapur1;
        await h.api('PATCH', `/api/v1/orders/${r.json.invoice_number}/status`, { token: kitchen, body: { status: 'ready' } });
      } else if (i % 23 === 0) {
        await h.api('PATCH', `/api/v1/orders/${r.json.invoice_number}/status`, { token, body: { status: 'cancelled' } });
      }
    });
    console.log(`filled ${ORDERS} orders in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await timeStats(h, h.tokens.admin, 'admin (every outlet)');
    await timeStats(h, h.tokens.kasir1, 'cashier (outlet 1)');
  } finally {
    await shutdown(h);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
