'use strict';
// Reconnection: the display survives a server restart and a stretch of being away (its
// process stopped long enough for the server to drop it), reconnects with backoff, reloads
// the open queue, and so shows every order posted meanwhile, once, and none that closed.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Tui, BACKENDS, waitFor, sleep } = require('./tui-lib');

const count = (s, needle) => s.split(needle).length - 1;

for (const backend of BACKENDS) {
  test(`reconnection against ${backend.name}`, async (t) => {
    // short pings, so that a display that stops answering is dropped quickly
    const srv = await backend.make(backend.key === 'peer' ? { pingInterval: 400, pingTimeout: 400 }
      : { args: ['--ping-interval', '400', '--ping-timeout', '400'] });
    let x;
    try {
      const o1 = await srv.post([{ product_id: 1, qty: 1 }]);
      x = await Tui.start(['--server', srv.url, '--token', srv.token]);
      await x.waitScreen((s) => / LIVE /.test(s) && s.includes(o1.invoice_number), 'the first order, live');

      await t.test('server restart: RECONNECTING, then every order, once', async () => {
        await srv.stop();
        await x.waitScreen(/RECONNECTING in \d+s/, 'the countdown in the header');
        assert.ok(x.screen().includes(o1.invoice_number), 'tickets stay on screen while offline');
        await srv.restart();
        const o2 = await srv.post([{ product_id: 2, qty: 4 }], 'after restart');
        const s = await x.waitScreen((y) => / LIVE /.test(y) && y.includes(o2.invoice_number), 'the order posted after the restart');
        assert.match(s, /4x Corndog Mozzarella/);
        assert.equal(count(s, o1.invoice_number), 1, 'no duplicate of the old ticket');
        assert.equal(count(s, o2.invoice_number), 1, 'no duplicate of the new ticket');
        assert.match(s, /Open 2 /);
      });

      await t.test('away (process stopped, dropped by the server): missed orders appear, closed ones leave', async () => {
        const pid = x.pid();
        const bells = x.bells();
        const before = x.screen();
        // the newest ticket is the rightmost (tickets side by side, oldest at the left)
        const o2inv = before.match(/INV-\d{8}-\d{4}/g).pop();
        process.kill(pid, 'SIGSTOP');
        try {
          // wait until the server has dropped the display (ping timeout)
          if (backend.key === 'peer') {
            await waitFor(() => srv.peer.clientCount() === 0, { what: 'the peer to drop the display' });
          } else {
            await srv.h.waitForLog(/Client disconnected/, 10000);
          }
          var o3 = await srv.post([{ product_id: 3, qty: 5 }], 'while away');
          var o4 = await srv.post([{ product_id: 4, qty: 6 }]);
          await srv.setStatus(o1.invoice_number, 'ready');
          await srv.setStatus(o1.invoice_number, 'completed');
          await sleep(200);
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        const s = await x.waitScreen((y) => / LIVE /.test(y) && y.includes(o3.invoice_number) &&
          y.includes(o4.invoice_number) && !y.includes(o1.invoice_number), 'the missed orders, without the completed one');
        assert.match(s, /5x Mie/);
        assert.match(s, /6x Kentang/);
        assert.match(s, /» while away/);
        assert.ok(s.includes(o2inv), 'the ticket still open stays');
        assert.equal(count(s, o3.invoice_number), 1, 'once');
        await waitFor(() => x.bells() > bells, { what: 'a bell for the missed orders', timeout: 5000 });
      });

      await t.test('exits 0', async () => {
        assert.equal(await x.quit(), 0, x.log());
      });
    } finally {
      if (x) x.kill();
      await srv.cleanup();
    }
  });
}
