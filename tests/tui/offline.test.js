'use strict';
// Offline bumps (SPEC 5.1): changes made while the server is down are queued on screen
// (pending), sent in order on reconnect, each applied exactly once (an action id per change,
// remembered by the server), and a refused one is shown. The server's own history table
// (a real SQLite file, read with the sqlite3 CLI) counts how often each move was applied.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { Tui, ourServer, sleep } = require('./tui-lib');

function sqlite(db, sql) {
  return execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();
}

/** How many times the server moved `invoice` to `to` (from its order_history table). */
function moves(db, invoice, to) {
  return Number(sqlite(db, `SELECT COUNT(*) FROM order_history h JOIN orders o ON o.id = h.order_id
    WHERE o.invoice_number = '${invoice}' AND h.to_status = '${to}'`));
}

function hasSqlite() {
  try {
    execFileSync('sqlite3', ['-version']);
    return true;
  } catch {
    return false;
  }
}

test('bumps made while the server is down land once each, in order', { skip: !hasSqlite() && 'no sqlite3 CLI' }, async (t) => {
  const srv = await ourServer();
  let x;
  try {
    const orders = [];
    for (let i = 0; i < 4; i++) orders.push(await srv.post([{ product_id: 1 + i, qty: 1 + i }]));
    x = await Tui.start(['--server', srv.url, '--token', srv.token], { cols: 120, rows: 36 });
    await x.waitScreen((s) => / LIVE /.test(s) && orders.every((o) => s.includes(o.invoice_number)), 'four tickets, live');

    await t.test('while down: three bumps queued, shown pending', async () => {
      await srv.stop();
      await x.waitScreen(/RECONNECTING/, 'reconnecting');
      // tickets 1..3 are the three oldest: bump each to ready with its number key
      x.keys('1');
      await x.waitScreen(/queued \(1 waiting\)/, 'the first queued');
      x.keys('2');
      await x.waitScreen(/queued \(2 waiting\)/, 'the second queued');
      x.keys('3');
      const s = await x.waitScreen(/queued \(3 waiting\); sent when the link is back/, 'the third queued');
      for (const o of orders.slice(0, 3)) assert.match(s, new RegExp(`${o.invoice_number}\\s+…`), `${o.invoice_number} pending`);
      assert.doesNotMatch(s, new RegExp(`${orders[3].invoice_number}\\s+…`), 'the fourth is not pending');
    });

    await t.test('a second bump of a pending ticket is refused on screen, not queued', async () => {
      x.keys('1');
      await x.waitScreen(/still waiting for the server's answer/, 'the refusal');
      assert.doesNotMatch(x.screen(), /queued \(4 waiting\)/);
    });

    await t.test('back up: all three land once, the screen says so', async () => {
      await srv.restart();
      await x.waitScreen((s) => / LIVE /.test(s) && !/…/.test(s), 'every change acknowledged', 30000);
      for (const o of orders.slice(0, 3)) {
        const now = await srv.get(o.invoice_number);
        assert.equal(now.status, 'ready', `${o.invoice_number} is ready`);
        assert.equal(moves(srv.h.db, o.invoice_number, 'ready'), 1, `${o.invoice_number} moved to ready once`);
      }
      assert.equal((await srv.get(orders[3].invoice_number)).status, 'new', 'the fourth untouched');
      // sent in order: the history rows of the three moves are in bump order
      const ids = orders.slice(0, 3).map((o) => `'${o.invoice_number}'`).join(',');
      const seq = sqlite(srv.h.db, `SELECT o.invoice_number FROM order_history h JOIN orders o ON o.id = h.order_id
        WHERE o.invoice_number IN (${ids}) AND h.to_status = 'ready' ORDER BY h.id`).split('\n');
      assert.deepEqual(seq, orders.slice(0, 3).map((o) => o.invoice_number));
    });

    await t.test('a queued change the server refuses is shown as refused', async () => {
      const o = orders[3];
      await srv.stop();
      await x.waitScreen(/RECONNECTING/, 'reconnecting');
      assert.ok(x.screen().includes(o.invoice_number));
      x.keys('4');
      await x.waitScreen(/queued \(1 waiting\)/, 'queued');
      // meanwhile the order is cancelled at the counter: written into the stopped server's
      // database, so that it is certainly cancelled before the display is back
      sqlite(srv.h.db, `UPDATE orders SET status = 'cancelled' WHERE invoice_number = '${o.invoice_number}'`);
      await srv.restart();
      await x.waitScreen(new RegExp(`${o.invoice_number} -> READY refused`), 'the refusal', 30000);
      assert.equal(moves(srv.h.db, o.invoice_number, 'ready'), 0, 'nothing applied');
    });

    await t.test('the display exits 0', async () => {
      await sleep(100);
      assert.equal(await x.quit(), 0, x.log());
    });
  } finally {
    x?.kill();
    await srv.cleanup();
  }
});
