'use strict';
// Smoke run of kds-bench (issue 5): 100 Socket.IO listeners and a few seconds of orders at
// a fixed rate against the server the harness starts (ours, or the Node reference with
// KDS_TARGET=node). Every order must reach every listener, and every order answered 201
// must be in the database afterwards. The full comparison is tests/bench/compare.sh.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { start, SOURCE_DIR } = require('../lib/harness');

const BUILD_DIR = process.env.KDS_BUILD_DIR || path.join(SOURCE_DIR, 'build');
const BENCH = process.env.KDS_BENCH_BIN || path.join(BUILD_DIR, 'kds-bench');

/** Runs kds-bench; resolves with {code, json, stderr}. */
function bench(args, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    const p = spawn(BENCH, [...args, '--json', '-', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`kds-bench timed out; stderr: ${err}`));
    }, timeoutMs);
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => { // 'close': stdout fully read, unlike 'exit'
      clearTimeout(t);
      let json;
      try { json = JSON.parse(out.trim().split('\n').pop()); } catch { json = undefined; }
      resolve({ code, json, stderr: err, stdout: out });
    });
  });
}

describe('kds-bench smoke', () => {
  let h;
  before(async () => {
    assert.ok(fs.existsSync(BENCH), `kds-bench not built at ${BENCH}`);
    h = await start({ args: ['--order-rate', '0'] });
  });
  after(async () => {
    if (h) await h.cleanup();
  });

  it('100 listeners get every order, and every 201 is in the database', async () => {
    const r = await bench([
      '--url', h.url,
      '--clients', '100',
      '--token', h.tokens.dapur1, // kitchen of outlet 1: sees kasir1's orders
      '--post-token', h.tokens.kasir1,
      '--rate', '40',
      '--duration', '3',
      '--drain', '15',
      '--server-pid', String(h.proc.pid),
      '--list-invoices',
    ]);
    assert.ok(r.json, `no JSON from kds-bench (exit ${r.code}): ${r.stdout} ${r.stderr}`);
    const res = r.json.results;
    assert.equal(res.error, '', `kds-bench reported: ${res.error}`);
    assert.equal(res.connected, 100);
    assert.equal(res.connect_failed, 0);
    assert.equal(res.connections_lost, 0);
    assert.ok(res.orders_sent >= 100, `only ${res.orders_sent} orders sent`);
    assert.equal(res.post_201, res.orders_sent, 'every POST answered 201');
    assert.equal(res.deliveries_expected, res.orders_sent * 100);
    assert.equal(res.deliveries_missing, 0, 'no delivery missing');
    assert.equal(res.deliveries, res.deliveries_expected);
    assert.equal(res.orders_fully_delivered, res.orders_sent);
    assert.ok(res.delivery_latency.count === res.deliveries && res.delivery_latency.p99_ms > 0);
    assert.ok(res.server_cpu_s >= 0 && res.server_rss_end_kb > 0, 'server /proc readings');
    assert.equal(r.json.env.os, 'Linux');
    assert.equal(r.code, 0, `exit status ${r.code}`);

    // Every 201 is in the database (read back through the API, as any client would).
    assert.equal(res.invoices.length, res.post_201);
    const list = await h.api('GET', '/api/v1/orders?limit=1000', { token: h.tokens.admin });
    assert.equal(list.status, 200);
    const stored = new Map(list.json.map((o) => [o.invoice_number, o]));
    for (const inv of res.invoices) {
      assert.ok(stored.has(inv), `${inv} answered 201 but is not in the database`);
      assert.match(stored.get(inv).note, /^kdsb:\d+:\d+$/);
    }
    assert.equal(new Set(res.invoices).size, res.invoices.length, 'invoice numbers are unique');
  });

  it('a missing delivery is an error, not a footnote', async () => {
    // A listener whose token cannot see the orders (outlet 2) never gets them: exit 1.
    const r = await bench([
      '--url', h.url, '--clients', '3', '--token', h.tokens.dapur2,
      '--post-token', h.tokens.kasir1, '--orders', '2', '--rate', '20', '--drain', '1',
    ]);
    assert.ok(r.json, `no JSON: ${r.stderr}`);
    assert.equal(r.json.results.deliveries_missing, 6);
    assert.equal(r.code, 1);
  });
});
