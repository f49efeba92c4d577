'use strict';
// Durability (SPEC 3, 8, 11.10): many concurrent order POSTs, kill -9 mid-stream, restart on
// the same file. Every order that got a 201 is there exactly once; the day's sequence has
// no gap and continues after the restart; a POS retrying with its Idempotency-Key gets the
// order that was committed before the crash (200) or a new one (201), never a duplicate.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, sampleOrder } = require('../lib/harness');
const { today, seqOf } = require('../lib/wait');

const TOTAL = 400;      // orders the POS wants to create
const CONCURRENCY = 32; // requests in flight
const KILL_AFTER = 120; // 201s seen before the kill -9

let h;
after(async () => {
  await h?.cleanup();
});

const bodyOf = (i) => sampleOrder([{ product_id: (i % 8) + 1, qty: (i % 3) + 1 }], { note: `pos ${i}` });
const keyOf = (i) => `pos-${i}`;

async function listAll(token) {
  const r = await h.api('GET', `/api/v1/orders?limit=1000&date=${today()}`, { token });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

describe('durability', () => {
  it('keeps every acknowledged order exactly once across kill -9, gapless', async () => {
    h = await start({ args: ['--order-rate', '0'] });
    const token = h.tokens.kasir1;
    const created = new Map(); // i -> invoice, for each 201 before the crash
    let next = 0;
    let killed = false;
    let killing;

    const worker = async () => {
      while (next < TOTAL && !killed) {
        const i = next++;
        try {
          const r = await h.api('POST', '/api/v1/orders', { token, body: bodyOf(i), headers: { 'Idempotency-Key': keyOf(i) } });
          if (r.status === 201) created.set(i, r.json.invoice_number);
          else if (!killed) assert.fail(`unexpected ${r.status} ${r.text}`);
        } catch {
          // the connection died with the server: this order's fate is unknown to the POS
        }
        if (created.size >= KILL_AFTER && !killing) {
          killing = h.kill9().then(() => { killed = true; });
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await killing;
    assert.ok(killed, 'the server was killed mid-stream');
    assert.ok(created.size >= KILL_AFTER, `${created.size} orders acknowledged before the kill`);

    await h.restart();
    const after = await listAll(h.tokens.admin);
    const byInvoice = new Map(after.map((o) => [o.invoice_number, o]));
    for (const [i, inv] of created) {
      const o = byInvoice.get(inv);
      assert.ok(o, `acknowledged order ${inv} survived the crash`);
      assert.equal(o.note, `pos ${i}`, `${inv} is the order that was acknowledged`);
    }
    const notes = after.map((o) => o.note);
    assert.equal(new Set(notes).size, notes.length, 'no order stored twice');
    const seqs = after.map((o) => seqOf(o.invoice_number)).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, k) => k + 1), 'the day has no gap in its numbers');

    // The POS retries everything it has no 201 for, with the same keys and bodies.
    let replayed = 0;
    let fresh = 0;
    for (let i = 0; i < TOTAL; i++) {
      if (created.has(i)) continue;
      const r = await h.api('POST', '/api/v1/orders', { token, body: bodyOf(i), headers: { 'Idempotency-Key': keyOf(i) } });
      if (r.status === 200) {
        assert.equal(r.headers.get('idempotent-replayed'), 'true');
        assert.ok(byInvoice.has(r.json.invoice_number), 'a replay is an order committed before the crash');
        replayed++;
      } else {
        assert.equal(r.status, 201, r.text);
        fresh++;
      }
    }
    assert.equal(replayed, after.length - created.size, 'every committed-but-unacknowledged order replays');

    const final = await listAll(h.tokens.admin);
    assert.equal(final.length, TOTAL, 'one order per POS request, no duplicate, none lost');
    assert.equal(new Set(final.map((o) => o.note)).size, TOTAL);
    const all = final.map((o) => seqOf(o.invoice_number)).sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: TOTAL }, (_, k) => k + 1), 'the sequence continued without a gap');
    assert.equal(fresh + replayed + created.size, TOTAL);
  });
});
