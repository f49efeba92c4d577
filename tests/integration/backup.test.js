'use strict';
// SPEC 12: `kds-server --db F backup DEST` copies the store while the server runs and takes
// orders. The copy is one snapshot: every order in it is whole (its lines sum to its total)
// and it holds every order answered 201 before the backup began; a backup taken once posting
// stops holds exactly what GET /api/v1/orders lists, and a server restored from it (started
// on the copy) lists the same orders.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { start, sampleOrder, serverCommand } = require('../lib/harness');

let haveSqlite = true;
try { execFileSync('sqlite3', ['-version']); } catch { haveSqlite = false; }

const sql = (db, q) => JSON.parse(execFileSync('sqlite3', ['-readonly', '-json', db, q], { encoding: 'utf8' }) || '[]');

/** Runs `kds-server --db db backup dest`; resolves with its stdout (rejects on failure). */
function backup(db, dest) {
  const [cmd, ...pre] = serverCommand();
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, [...pre, '--db', db, 'backup', dest], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`backup exited ${code}: ${out}`))));
  });
}

const listed = async (h) => {
  const r = await h.api('GET', '/api/v1/orders?limit=1000', { token: h.tokens.admin });
  assert.equal(r.status, 200);
  return r.json;
};

describe('backup', { skip: !haveSqlite && 'the sqlite3 command is missing (scripts/deps.sh --tests)' }, () => {
  let h; let restored;
  before(async () => { h = await start({ args: ['--order-rate', '0'] }); });
  after(async () => {
    if (restored) await restored.cleanup();
    if (h) await h.cleanup();
  });

  const post = async (i) => {
    const r = await h.api('POST', '/api/v1/orders', {
      token: h.tokens.kasir1, body: sampleOrder([{ product_id: 1 + (i % 4), qty: 1 + (i % 3) }, { product_id: 5, qty: 1 }]),
    });
    assert.equal(r.status, 201, r.text);
    return r.json.invoice_number;
  };

  it('copies a consistent snapshot while orders keep coming', async () => {
    // ~6 MB of padding (a table the server ignores): the copy takes several steps, and the
    // orders committed meanwhile make it start over (then, past a few restarts, one step).
    execFileSync('sqlite3', [h.db, 'CREATE TABLE pad(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) INSERT INTO pad SELECT randomblob(4000) FROM n;']);
    const before = [];
    for (let i = 0; i < 40; i++) before.push(await post(i));
    let posting = true; let n = 40;
    const writer = (async () => { while (posting) await post(n++); })();
    const dest = path.join(h.dir, 'during.db');
    const out = await backup(h.db, dest);
    posting = false;
    await writer;
    const m = /^backup: .* -> .*during\.db \((\d+) pages, (\d+) steps, (\d+) restarts\)/.exec(out);
    assert.ok(m, out);
    assert.ok(Number(m[1]) > 1500 && Number(m[2]) > 1, `copied in steps: ${out}`);
    if (process.env.KDS_TEST_VERBOSE) console.error(out);
    assert.equal(sql(dest, 'SELECT count(*) AS n FROM pad')[0].n, 1500);
    assert.ok(!fs.existsSync(`${dest}.tmp`) && !fs.existsSync(`${dest}-wal`), 'one self-contained file');
    const copied = sql(dest, 'SELECT invoice_number FROM orders').map((r) => r.invoice_number);
    for (const inv of before) assert.ok(copied.includes(inv), `${inv} (answered before the backup) is in the copy`);
    const torn = sql(dest, 'SELECT o.invoice_number, o.total_amount, SUM(l.subtotal) AS s FROM orders o '
      + 'LEFT JOIN order_lines l ON l.order_id = o.id GROUP BY o.id HAVING s IS NULL OR s != o.total_amount');
    assert.deepEqual(torn, [], 'every order in the copy is whole');
    assert.deepEqual(sql(dest, 'PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  });

  it('a backup once posting stops holds what GET /api/v1/orders lists, and restores', async () => {
    const orders = await listed(h);
    const dest = path.join(h.dir, 'after.db');
    await backup(h.db, dest);
    const rows = sql(dest, 'SELECT invoice_number, status, total_amount FROM orders WHERE voided_at IS NULL ORDER BY id DESC');
    assert.deepEqual(rows, orders.map((o) => ({ invoice_number: o.invoice_number, status: o.status, total_amount: o.total_amount })));
    // Restore: a server on the copy (here in its own folder) lists the same orders.
    const dir = fs.mkdtempSync(path.join(path.dirname(h.dir), 'kds-restore-'));
    fs.copyFileSync(dest, path.join(dir, 'kds.db'));
    restored = await start({ dir, tokens: h.tokens });
    assert.deepEqual(await listed(restored), orders);
  });

  it('refuses a missing source and a missing destination', async () => {
    await assert.rejects(backup(path.join(h.dir, 'nope.db'), path.join(h.dir, 'x.db')), /cannot read/);
    assert.ok(!fs.existsSync(path.join(h.dir, 'x.db')));
    await assert.rejects(backup(h.db, ''), /destination/);
  });
});
