'use strict';
// kds-tui shows posted orders as tickets: invoice, categories, exact quantities, note; rings
// the bell for a new ticket (not for the ones already open at start, not with --no-bell);
// --station filters; --plain prints one line per event. Against our kds-server and against
// the official socket.io server (peer).

const test = require('node:test');
const assert = require('node:assert/strict');
const { Tui, Plain, BACKENDS, waitFor } = require('./tui-lib');

for (const backend of BACKENDS) {
  test(`display against ${backend.name}`, async (t) => {
    const srv = await backend.make();
    const tuis = [];
    const tui = async (args, opts) => {
      const x = await Tui.start(['--server', srv.url, '--token', srv.token, ...args], opts);
      tuis.push(x);
      return x;
    };
    try {
      // An order already open before the display starts: shown, no bell.
      const first = await srv.post([{ product_id: 1, qty: 2 }, { product_id: 5, qty: 1 }, { product_id: 3, qty: 1 }],
        'no onion');

      await t.test('open orders at start-up are shown, without a bell', async () => {
        const a = await tui([]);
        const s = await a.waitScreen((x) => x.includes(first.invoice_number) && / LIVE /.test(x), 'the first order');
        assert.match(s, /ISI CORNDOG/);
        assert.match(s, /2x Corndog Sosis/);
        assert.match(s, /BALUTAN/);
        assert.match(s, /1x Mie/);
        assert.match(s, /SAUS ASIN/);
        assert.match(s, /1x Saus Tomat/);
        assert.match(s, /» no onion/);
        assert.match(s, /NEW\s+\d\d:\d\d/, 'status and age');
        assert.match(s, /Open 1 /, 'open count in the header');
        assert.equal(a.bell(), false, 'no bell for tickets that were already open');
        assert.equal(a.bells(), 0);
        // categories in display order, each line under its own category
        const lines = s.split('\n');
        const at = (re) => lines.findIndex((l) => re.test(l));
        assert.ok(at(/ISI CORNDOG/) < at(/2x Corndog Sosis/) && at(/2x Corndog Sosis/) < at(/BALUTAN/) &&
          at(/BALUTAN/) < at(/1x Mie/) && at(/1x Mie/) < at(/SAUS ASIN/) && at(/SAUS ASIN/) < at(/1x Saus Tomat/),
        `grouped by category in display order:\n${s}`);
      });

      await t.test('a posted order appears live with its quantities, highlighted, and rings the bell', async () => {
        const [a] = tuis;
        const quiet = await tui(['--no-bell']);
        await quiet.waitScreen(/ LIVE /, 'the quiet display live');
        const o = await srv.post([{ product_id: 2, qty: 3 }, { product_id: 7, qty: 2 }, { product_id: 8, qty: 1 }]);
        const s = await a.waitScreen((x) => x.includes(o.invoice_number), 'the new order');
        assert.match(s, /3x Corndog Mozzarella/);
        assert.match(s, /SAUS MANIS/);
        assert.match(s, /2x Coklat/);
        assert.match(s, /1x Susu Kental Manis/);
        assert.match(s, new RegExp(`${o.invoice_number.slice(4)}\\s+NEW!`), 'the new ticket is marked NEW!');
        await waitFor(() => a.bell(), { what: 'the bell flag', timeout: 5000 });
        await waitFor(() => a.bells() === 1, { what: 'exactly one bell', timeout: 5000 });
        await quiet.waitScreen((x) => x.includes(o.invoice_number), 'the new order on the quiet display');
        assert.equal(quiet.bell(), false, '--no-bell: no bell');
        assert.equal(quiet.bells(), 0);
        assert.match(a.screen(), /Open 2 /);
      });

      await t.test('--station shows only its categories and hides tickets without them', async () => {
        const st = await tui(['--station', 'saus manis']);
        const s = await st.waitScreen((x) => / LIVE /.test(x) && /Coklat/.test(x), 'the station view');
        assert.doesNotMatch(s, new RegExp(first.invoice_number), 'a ticket with nothing for the station is hidden');
        assert.doesNotMatch(s, /Corndog Mozzarella/, 'other stations\' lines are hidden');
        assert.match(s, /2x Coklat/);
        assert.match(s, /\+1 for other stations/);
        assert.match(s, /Open 1 /);
      });

      await t.test('all-day view sums the items of the open tickets', async () => {
        const [a] = tuis;
        a.keys('a');
        const s = await a.waitScreen(/ALL DAY/, 'the all-day view');
        assert.match(s, /Corndog Mozzarella\s+3\s+0/);
        assert.match(s, /Corndog Sosis\s+2\s+0/);
        a.keys('?');
        await a.waitScreen(/HELP: keys/, 'the help screen');
        assert.match(a.screen(), /1-9\s+bump the ticket with that number/);
        a.keys('Escape');
        await a.waitScreen((x) => x.includes(first.invoice_number), 'back to the tickets');
      });

      await t.test('--plain prints one line per event', async () => {
        const p = Plain.start(['--server', srv.url, '--token', srv.token]);
        try {
          await p.waitLine(/ live$/, 'live');
          assert.ok(p.lines.some((l) => l.includes(`open ${first.invoice_number} new`) &&
            l.includes('| ISI CORNDOG: 2x Corndog Sosis') && l.includes('| note: no onion')), p.lines.join('\n'));
          const o = await srv.post([{ product_id: 4, qty: 2 }]);
          const line = await p.waitLine(new RegExp(`new-order ${o.invoice_number}`));
          assert.match(line, /\| BALUTAN: 2x Kentang$/);
          await srv.setStatus(o.invoice_number, 'ready');
          await p.waitLine(new RegExp(`order-updated ${o.invoice_number} ready `), 'the update');
          await srv.setStatus(o.invoice_number, 'completed');
          await p.waitLine(new RegExp(`order-updated ${o.invoice_number} completed$`), 'the close');
        } finally {
          const r = await p.stop();
          assert.equal(r.code, 0, `plain mode exits 0 on SIGTERM: ${p.stderr}`);
        }
      });

      await t.test('quitting exits 0 (no leak, no crash)', async () => {
        for (const x of tuis) assert.equal(await x.quit(), 0, x.log());
      });
    } finally {
      for (const x of tuis) x.kill();
      await srv.cleanup();
    }
  });
}

test('a wrong token is shown, not retried silently', async () => {
  const { peerServer } = require('./tui-lib');
  const srv = await peerServer();
  const x = await Tui.start(['--server', srv.url, '--token', 'wrong']);
  try {
    const s = await x.waitScreen((x1) => /OFFLINE/.test(x1) && /refused this display: unauthorized: check --token/.test(x1),
      'the refusal on the status line and OFFLINE in the header');
    assert.match(s, /No open tickets/);
    assert.equal(await x.quit(), 0);
  } finally {
    x.kill();
    await srv.cleanup();
  }
});
