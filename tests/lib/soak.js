'use strict';
// Durability soak (scripts/soak.sh; not run by ctest): the one trial of
// tests/integration/rest-durability.test.js repeated on the same database. Each trial keeps
// CONCURRENCY order POSTs in flight against the release kds-server, kill -9s it at a random
// moment, restarts it on the same file and checks the whole day so far: every order that
// got a 201 is present exactly once (same invoice, same note), no order is stored twice, and
// the day's invoice numbers are 1..M without a gap. Bounded: TRIALS trials, each at most
// MAX_PER_TRIAL orders and TRIAL_MS of posting.
// Usage: node tests/lib/soak.js [TRIALS]   (KDS_SERVER_BIN: the server binary)

const { start, sampleOrder } = require('./harness');

const TRIALS = Number(process.argv[2] || 10);
const CONCURRENCY = 32;
const MAX_PER_TRIAL = 2000;
const TRIAL_MS = 20000;
const KILL_MIN_MS = 50; // the kill comes uniformly between these, after the first 201
const KILL_MAX_MS = 1500;

const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};
const seqOf = (inv) => Number(inv.split('-')[2]);

// The whole day, newest first, page by page (limit 1000, `before` exclusive).
async function listDay(h, token, date) {
  const all = [];
  let before = null;
  for (let page = 0; page < 1000; page++) {
    const q = `/api/v1/orders?limit=1000&date=${date}` + (before ? `&before=${encodeURIComponent(before)}` : '');
    const r = await h.api('GET', q, { token });
    if (r.status !== 200) throw new Error(`listing: ${r.status} ${r.text}`);
    if (r.json.length === 0) break;
    all.push(...r.json);
    before = r.json[r.json.length - 1].invoice_number;
    if (r.json.length < 1000) break;
  }
  return all;
}

async function trial(h, t, acked) {
  const token = h.tokens.kasir1;
  let next = 0;
  let killed = false;
  let killTimer = null;
  let killing = null;
  const started = Date.now();
  const killAfter = KILL_MIN_MS + Math.floor(Math.random() * (KILL_MAX_MS - KILL_MIN_MS));
  let got201 = 0;
  let errors = 0;
  const worker = async () => {
    while (!killed && next < MAX_PER_TRIAL && Date.now() - started < TRIAL_MS) {
      const i = next++;
      const note = `soak t${t} #${i}`;
      const body = sampleOrder([{ product_id: (i % 8) + 1, qty: (i % 3) + 1 }], { note });
      try {
        const r = await h.api('POST', '/api/v1/orders', { token, body, headers: { 'Idempotency-Key': `soak-${t}-${i}` } });
        if (r.status === 201) {
          acked.set(note, r.json.invoice_number);
          got201++;
          if (!killTimer) killTimer = setTimeout(() => { killing = h.kill9().then(() => { killed = true; }); }, killAfter);
        } else if (!killed) {
          errors++;
          console.error(`soak: trial ${t}: unexpected ${r.status} ${r.text}`);
        }
      } catch {
        // the connection died with the server: this order's fate is unknown to the POS
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (!killing) killing = h.kill9().then(() => { killed = true; }); // ran out of orders or time first
  clearTimeout(killTimer);
  await killing;
  await h.restart();
  return { sent: next, got201, killAfter, errors };
}

function check(day, acked) {
  const byNote = new Map();
  for (const o of day) {
    const k = o.note ?? '';
    byNote.set(k, (byNote.get(k) || 0) + 1);
  }
  const byInvoice = new Map(day.map((o) => [o.invoice_number, o]));
  let present = 0;
  let missing = 0;
  let mismatched = 0;
  for (const [note, inv] of acked) {
    const o = byInvoice.get(inv);
    if (!o) missing++;
    else if (o.note !== note) mismatched++;
    else present++;
  }
  let duplicates = 0;
  for (const n of byNote.values()) if (n > 1) duplicates += n - 1;
  const seqs = day.map((o) => seqOf(o.invoice_number)).sort((a, b) => a - b);
  const max = seqs.length ? seqs[seqs.length - 1] : 0;
  const seen = new Set(seqs);
  let gaps = 0;
  for (let k = 1; k <= max; k++) if (!seen.has(k)) gaps++;
  const seqDup = seqs.length - seen.size;
  return { stored: day.length, present, missing, mismatched, duplicates, gaps, seqDup, max };
}

async function main() {
  const date = today();
  const h = await start({ args: ['--order-rate', '0'] });
  const acked = new Map(); // note -> invoice, every 201 of every trial
  let failed = false;
  let last;
  console.log(`soak: ${TRIALS} kill -9 trials, ${CONCURRENCY} POSTs in flight, db ${h.db}`);
  try {
    for (let t = 1; t <= TRIALS; t++) {
      const r = await trial(h, t, acked);
      if (today() !== date) {
        console.log('soak: the day changed during the soak; stopping (numbers restart each day)');
        break;
      }
      last = check(await listDay(h, h.tokens.admin, date), acked);
      const bad = last.missing || last.mismatched || last.duplicates || last.gaps || last.seqDup || r.errors;
      if (bad) failed = true;
      console.log(`trial ${t}: sent ${r.sent}, 201s ${r.got201}, kill -9 after ${r.killAfter} ms; day: ` +
        `stored ${last.stored}, acknowledged ${acked.size}, present ${last.present}, missing ${last.missing}, ` +
        `wrong ${last.mismatched}, duplicates ${last.duplicates}, gaps ${last.gaps}, repeated numbers ${last.seqDup}` +
        (bad ? '  <-- FAILED' : ''));
    }
  } finally {
    await h.cleanup();
  }
  if (last) {
    console.log(`soak: ${TRIALS} trials; acknowledged ${acked.size}, present ${last.present}, ` +
      `duplicates ${last.duplicates}, gaps ${last.gaps} (invoice numbers 1..${last.max}, ${last.stored} stored)`);
  }
  console.log(failed ? 'soak: FAILED' : 'soak: ok');
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`soak: ${e.stack || e}`);
  process.exit(2);
});
