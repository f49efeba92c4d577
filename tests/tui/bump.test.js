'use strict';
// Bumps: Space starts, Enter bumps (ready, then completed), a digit bumps the nth ticket, r
// recalls; each goes through `order-status` with its ack, and shows on a second display.
// A refused bump and a bump that cannot be sent are shown on the status line.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Tui, BACKENDS, ticketNumber, waitFor } = require('./tui-lib');

/** The status word on the ticket of `inv` ("NEW", "PREPARING", "READY") or null if absent. */
function statusOf(screen, inv) {
  const lines = screen.split('\n');
  const i = lines.findIndex((l) => l.includes(inv.slice(4)));
  if (i < 0) return null;
  // the status row is right under the title row, in the same column
  const col = lines[i].indexOf(inv.slice(4));
  const below = lines[i + 1] || '';
  const m = /(NEW|PREPARING|READY)/.exec(below.slice(Math.max(0, col - 24), col + 24));
  return m ? m[1] : '?';
}

for (const backend of BACKENDS) {
  test(`bumps against ${backend.name}`, async (t) => {
    const srv = await backend.make();
    const tuis = [];
    const tui = async (args, opts) => {
      const x = await Tui.start(['--server', srv.url, ...args], opts);
      tuis.push(x);
      return x;
    };
    try {
      const a = await srv.post([{ product_id: 1, qty: 1 }]);
      const b = await srv.post([{ product_id: 2, qty: 2 }]);
      const c = await srv.post([{ product_id: 3, qty: 3 }]);
      const one = await tui(['--token', srv.token]);
      const two = await tui(['--token', srv.token]);
      for (const x of [one, two]) {
        await x.waitScreen((s) => / LIVE /.test(s) && s.includes(c.invoice_number), 'three tickets');
      }
      const A = a.invoice_number;

      await t.test('Space starts the selected (oldest) ticket; the other screen shows it', async () => {
        one.keys('Space');
        await two.waitScreen((s) => statusOf(s, A) === 'PREPARING', 'A preparing on the second screen');
        await one.waitScreen(new RegExp(`✓ ${A} is now PREPARING`), 'the ack on the first');
        assert.equal((await srv.get(A)).status, 'preparing');
      });

      await t.test('Enter bumps to ready, then to completed: the card leaves every screen', async () => {
        one.keys('Enter');
        await two.waitScreen((s) => statusOf(s, A) === 'READY', 'A ready on the second screen');
        await one.waitScreen(new RegExp(`✓ ${A} is now READY`), 'the ack');
        one.keys('Enter');
        await two.waitScreen((s) => !s.includes(A) && s.includes(b.invoice_number), 'A gone from the second screen');
        await one.waitScreen((s) => !s.includes(`1 ${A}`) && s.includes(`✓ ${A} is now COMPLETED`), 'A gone here');
        assert.equal((await srv.get(A)).status, 'completed');
      });

      await t.test('r recalls the last bump: the card comes back as ready everywhere', async () => {
        one.keys('r');
        await two.waitScreen((s) => statusOf(s, A) === 'READY', 'A back on the second screen');
        await one.waitScreen(new RegExp(`✓ ${A} recalled to READY`), 'the recall ack');
      });

      await t.test('a digit bumps the ticket with that number', async () => {
        const s = one.screen();
        const n = ticketNumber(s, c.invoice_number);
        assert.ok(n >= 1 && n <= 9, `C has a number on screen:\n${s}`);
        one.keys(String(n));
        await two.waitScreen((x) => statusOf(x, c.invoice_number) === 'READY', 'C ready on the second screen');
        assert.equal(statusOf(await one.waitScreen(new RegExp(`✓ ${c.invoice_number} is now READY`)), b.invoice_number),
          'NEW', 'B untouched');
      });

      await t.test('a refused bump is shown on the status line', async () => {
        // a cashier may not set "ready": the server refuses, the screen says so
        const cashier = await tui(['--token', srv.cashierToken]);
        await cashier.waitScreen((s) => / LIVE /.test(s) && s.includes(b.invoice_number), 'cashier screen live');
        const n = ticketNumber(cashier.screen(), b.invoice_number);
        cashier.keys(String(n));
        const s = await cashier.waitScreen(new RegExp(`✗ ${b.invoice_number} -> READY refused: .*cashier`),
          'the refusal');
        assert.equal(statusOf(s, b.invoice_number), 'NEW', 'the ticket is unchanged');
        assert.equal((await srv.get(b.invoice_number)).status, 'new');
      });

      if (backend.key === 'peer') {
        await t.test('an unanswered bump is reported and sent again with the same action id', async () => {
          srv.peer.ackMode = 'drop';
          const seen = srv.peer.statusLog.length;
          const n = ticketNumber(one.screen(), b.invoice_number);
          one.keys(String(n));
          await one.waitScreen(new RegExp(`${b.invoice_number}\\s+…`), 'the pending mark');
          await waitFor(() => srv.peer.statusLog.length > seen, { what: 'the first send' });
          srv.peer.ackMode = 'normal'; // the first send stays unanswered, the next is answered
          await one.waitScreen(new RegExp(`✓ ${b.invoice_number} is now READY`), 'the second send answered', 20000);
          // said on the status line (then replaced by the answer) and in the log
          assert.match(one.log(), new RegExp(`${b.invoice_number} -> READY: no answer from the server; sending it again`));
          const sends = srv.peer.statusLog.slice(seen).filter((p) => p.invoice_number === b.invoice_number);
          assert.equal(sends.length, 2, JSON.stringify(sends));
          assert.match(sends[0].action_id, /^k[0-9a-f]{16}-\d+$/);
          assert.equal(sends[1].action_id, sends[0].action_id, 'the same action id both times');
        });
      }

      await t.test('a bump while the server is down is queued, and says so', async () => {
        await srv.stop();
        await one.waitScreen(/RECONNECTING/, 'reconnecting');
        one.keys('Enter');
        const s = await one.waitScreen(/INV-\S+ -> \w+: queued \(\d+ waiting\); sent when the link is back/, 'queued');
        assert.match(s, /INV-\S+\s+…/, 'the ticket is marked pending');
      });

      await t.test('every display exits 0', async () => {
        for (const x of tuis) assert.equal(await x.quit(), 0, x.log());
      });
    } finally {
      for (const x of tuis) x.kill();
      await srv.cleanup();
    }
  });
}
