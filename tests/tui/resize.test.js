'use strict';
// Resizing: 100x30 -> 80x24 -> 120x36 -> 200x50 -> 300x80 -> 200x60 -> 80x24. After each resize the screen must be exactly
// what a display started at that size shows (times masked): no cells left over from the old
// layout, header on the first row, keys on the last, every card a closed box. Paging at 80x24;
// at 200x60 seven tickets side by side (one per column, SPEC 5.1), the rest on page 2.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Tui, peerServer, waitFor } = require('./tui-lib');

const mask = (s) => s.replace(/\d/g, '#');

/** Structural checks of one screen; returns a list of problems. */
function problems(screen, cols, rows) {
  const lines = screen.split('\n');
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const out = [];
  if (!/^ (LIVE|CONNECTING|LOADING|RECONNECTING|OFFLINE)/.test(lines[0] || '')) out.push(`header: "${lines[0]}"`);
  if (lines.length > rows) out.push(`${lines.length} rows > ${rows}`);
  if (!/ q quit/.test(lines[lines.length - 1] || '')) out.push(`footer: "${lines[lines.length - 1]}"`);
  for (const [i, l] of lines.entries()) {
    if ([...l].length > cols) out.push(`row ${i} is ${[...l].length} wide`);
  }
  // every top-left corner has a bottom-left corner below it in the same column, with a side between
  const grid = lines.map((l) => [...l]);
  for (let r = 0; r < grid.length; r++) {
    for (let c = 0; c < grid[r].length; c++) {
      const ch = grid[r][c];
      if (ch !== '┌' && ch !== '╔') continue;
      const side = ch === '┌' ? '│' : '║';
      const end = ch === '┌' ? '└' : '╚';
      let k = r + 1;
      while (k < grid.length && grid[k][c] === side) k++;
      if (k >= grid.length || grid[k][c] !== end) out.push(`card at row ${r} col ${c} is not closed`);
    }
  }
  return out;
}

test('resize 100x30 -> 80x24 -> 120x36 -> 200x50 -> 300x80 -> 200x60 -> 80x24 without garbage', async (t) => {
  const srv = await peerServer();
  const tuis = [];
  try {
    // enough tickets for more than one page at 80x24, all open before the displays start
    const orders = [];
    for (let i = 0; i < 14; i++) {
      orders.push(await srv.post([{ product_id: 1 + (i % 4), qty: 1 + i }, { product_id: 5 + (i % 4), qty: 1 }],
        i % 3 === 0 ? `note ${i}: extra sauce on the side please` : undefined));
    }
    const args = ['--server', srv.url, '--token', srv.token];
    const x = await Tui.start(args, { cols: 100, rows: 30 });
    tuis.push(x);
    await x.waitScreen((s) => / LIVE /.test(s) && s.includes(orders[0].invoice_number), 'live');

    for (const [cols, rows] of [[80, 24], [120, 36], [200, 50], [300, 80], [200, 60], [80, 24]]) {
      await t.test(`${cols}x${rows}`, async () => {
        x.resize(cols, rows);
        await waitFor(() => { const z = x.size(); return z.cols === cols && z.rows === rows; }, { what: 'the pane size' });
        const fresh = await Tui.start(args, { cols, rows });
        tuis.push(fresh);
        const want = mask(await fresh.waitScreen((s) => / LIVE /.test(s) && s.includes(orders[0].invoice_number),
          'the fresh display'));
        // the resized display converges on exactly the fresh one (times masked)
        await waitFor(() => mask(x.screen()) === want, { what: `the resized screen to equal a fresh ${cols}x${rows} one`,
          describe: () => `resized:\n${x.screen()}\nfresh:\n${fresh.screen()}` });
        const s = x.screen();
        assert.deepEqual(problems(s, cols, rows), [], s);
        assert.equal(await fresh.quit(), 0);
        fresh.kill();
        tuis.splice(tuis.indexOf(fresh), 1);
      });
    }

    await t.test('paging at 80x24', async () => {
      const s1 = x.screen();
      const m = /Pg 1\/(\d+)/.exec(s1);
      assert.ok(m && Number(m[1]) >= 2, `a page indicator:\n${s1}`);
      const last = orders[orders.length - 1].invoice_number;
      assert.ok(!s1.includes(last), 'the newest ticket is not on the first page');
      x.keys('NPage');
      const s2 = await x.waitScreen(/Pg 2\//, 'page 2');
      assert.ok(!s2.includes(orders[0].invoice_number), 'the first page\'s tickets are gone from page 2');
      assert.deepEqual(problems(s2, 80, 24), [], s2);
      x.keys('PPage');
      await x.waitScreen(/Pg 1\//, 'back to page 1');
      // at 200x60 seven tickets side by side, one per column (SPEC 5.1): the first seven on
      // the title row of page 1, the other seven on page 2
      x.resize(200, 60);
      const big = await x.waitScreen((s) => /Pg 1\/2/.test(s) && s.includes(orders[6].invoice_number), 'seven side by side');
      const titles = big.split('\n').find((l) => l.includes(orders[0].invoice_number));
      assert.equal((titles.match(/INV-/g) || []).length, 7, `seven tickets on one row:\n${big}`);
      assert.ok(!big.includes(last), 'the newest is on page 2');
    });

    await t.test('exits 0', async () => {
      assert.equal(await x.quit(), 0, x.log());
    });
  } finally {
    for (const y of tuis) y.kill();
    await srv.cleanup();
  }
});
