'use strict';
// `kds-server --db F backup DEST` with DEST the live database itself, under other spellings
// (a symlink, "dir/../kds.db"), or its -wal: the copy renamed over the live file would leave
// the running server writing to an unlinked inode, and every order after the backup would be
// gone at the next start. The backup must refuse, and every order must survive a restart.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { start, sampleOrder, serverCommand } = require('../lib/harness');

function backup(db, dest) {
  const [cmd, ...pre] = serverCommand();
  const r = spawnSync(cmd, [...pre, '--db', db, 'backup', dest], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('backup onto the live database (any spelling) is refused; no order is lost', async () => {
  const h = await start({ args: ['--order-rate', '0'] });
  try {
    const post = async () => {
      const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
      assert.equal(r.status, 201, r.text);
      return r.json.invoice_number;
    };
    const invoices = [await post()];
    const link = path.join(h.dir, 'link.db');
    fs.symlinkSync(h.db, link);
    const spellings = [h.db, link, path.join(h.dir, '..', path.basename(h.dir), 'kds.db'), `${h.db}-wal`];
    for (const dest of spellings) {
      const exists = fs.existsSync(dest);
      const r = backup(h.db, dest);
      if (!exists) continue; // no -wal at this moment: nothing to protect
      assert.notEqual(r.code, 0, `backup to ${dest} refused: ${r.out}`);
      assert.match(r.out, /is the database itself/, r.out);
      invoices.push(await post());
    }
    // a real backup beside it still works
    const ok = backup(h.db, path.join(h.dir, 'copy.db'));
    assert.equal(ok.code, 0, ok.out);
    invoices.push(await post());
    await h.restart();
    const r = await h.api('GET', '/api/v1/orders?limit=1000', { token: h.tokens.admin });
    assert.equal(r.status, 200);
    const have = new Set(r.json.map((o) => o.invoice_number));
    for (const inv of invoices) assert.ok(have.has(inv), `${inv} survived the restart (have ${[...have].join(' ')})`);
  } finally {
    await h.cleanup();
  }
});
