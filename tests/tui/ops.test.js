'use strict';
// The display's header, recall list, live-only fallback and --sound (SPEC 5.1), in tmux:
// - the header's figures of the day are the server's (GET /api/v1/stats), not this screen's;
// - R lists the server's recall list (bumps made anywhere), r recalls its newest;
// - against a plain official socket.io server with no REST API the display runs live-only,
//   says so, and shows the orders that arrive; --orders-url points it at another listing;
// - --sound runs a command per new ticket and per cancel; a failing one is reported once.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { Server } = require('socket.io');
const { Tui, ourServer, waitFor, sleep } = require('./tui-lib');

/** mm:ss as the display prints a number of seconds (ui_fmt_age: whole seconds, cut). */
function mmss(secs) {
  const s = Math.floor(Math.trunc(secs * 1000) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function headerOf(screen) {
  return screen.split('\n')[0];
}

test('the header shows the server\'s figures of the day, and they follow the events', async (t) => {
  const srv = await ourServer();
  let x;
  try {
    const stats = async () => {
      const r = await srv.h.api('GET', '/api/v1/stats', { token: srv.token });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const expected = (s) => {
      const tt = s.ticket_time;
      const avg = tt.count ? mmss(tt.avg_s) : '--:--';
      const p90 = tt.count ? mmss(tt.p90_s) : '--:--';
      const open = s.orders.new + s.orders.preparing + s.orders.ready;
      return { counts: `Open ${open} (${s.orders.new} new ${s.orders.preparing} prep ${s.orders.ready} ready)`,
        day: `Today avg ${avg} p90 ${p90} late ${tt.late}` };
    };
    const headerMatches = async (what) => {
      let want;
      await waitFor(async () => {
        want = expected(await stats());
        const h = headerOf(x.screen());
        return h.includes(want.counts) && h.includes(want.day);
      }, { what, timeout: 20000, describe: () => `want: ${JSON.stringify(want)}\nscreen:\n${x.screen()}\nlog:\n${x.log()}` });
      return headerOf(x.screen());
    };

    const orders = [];
    for (let i = 0; i < 4; i++) orders.push(await srv.post([{ product_id: 1 + i, qty: 1 }]));
    x = await Tui.start(['--server', srv.url, '--token', srv.token], { cols: 120, rows: 36 });
    await x.waitScreen((s) => / LIVE /.test(s) && orders.every((o) => s.includes(o.invoice_number)), 'four tickets');

    await t.test('no ticket time yet: dashes, the counts per status', async () => {
      const h = await headerMatches('the empty figures');
      assert.match(h, /Today avg --:-- p90 --:-- late 0/);
      assert.doesNotMatch(h, /\(here\)/, 'the server\'s figures, not this screen\'s');
    });

    await t.test('orders made ready elsewhere: the header follows, equal to GET /api/v1/stats', async () => {
      await sleep(1100); // ticket times of a second or more
      await srv.setStatus(orders[0].invoice_number, 'ready');
      await sleep(1000);
      await srv.setStatus(orders[1].invoice_number, 'preparing');
      await srv.setStatus(orders[1].invoice_number, 'ready');
      await srv.setStatus(orders[2].invoice_number, 'preparing');
      const h = await headerMatches('the figures after two tickets are ready');
      const s = await stats();
      assert.equal(s.ticket_time.count, 2);
      assert.ok(s.ticket_time.avg_s >= 1, `avg ${s.ticket_time.avg_s}`);
      assert.match(h, /Open 4 \(1 new 1 prep 2 ready\)/);
    });

    await t.test('a cancelled order is not counted open; the figures stay the server\'s', async () => {
      await srv.setStatus(orders[3].invoice_number, 'cancelled');
      const h = await headerMatches('the figures after a cancel');
      assert.match(h, /Open 3 \(0 new 1 prep 2 ready\)/);
    });

    await t.test('a narrow screen keeps the average and the late count', async () => {
      x.resize(80, 24);
      await x.waitScreen((s) => /Today avg \d\d:\d\d late \d/.test(headerOf(s)), 'the 80-column header');
      x.resize(120, 36);
    });
    assert.equal(await x.quit(), 0, x.log());
  } finally {
    if (x) x.kill();
    await srv.cleanup();
  }
});

test('recall: R lists the bumps made on any screen, r brings back the newest', async (t) => {
  const srv = await ourServer();
  let x;
  try {
    const a = await srv.post([{ product_id: 1, qty: 2 }]);
    const b = await srv.post([{ product_id: 3, qty: 5 }]);
    x = await Tui.start(['--server', srv.url, '--token', srv.token], { cols: 120, rows: 36 });
    await x.waitScreen((s) => / LIVE /.test(s) && s.includes(a.invoice_number) && s.includes(b.invoice_number), 'two tickets');

    await t.test('an empty list says so', async () => {
      x.keys('R');
      await x.waitScreen(/RECALL:[\s\S]*Nothing to recall/, 'the empty recall list');
      x.keys('Escape');
      await x.waitScreen((s) => !/RECALL:/.test(s) && s.includes(a.invoice_number), 'back to the tickets');
    });

    await t.test('bumped by another screen: listed newest first, picked with Enter', async () => {
      // "another screen": the API, as a second display or the expo would
      await srv.setStatus(a.invoice_number, 'ready');
      await srv.setStatus(a.invoice_number, 'completed');
      await sleep(20);
      await srv.setStatus(b.invoice_number, 'ready');
      await x.waitScreen((s) => !s.includes(a.invoice_number), 'the completed ticket leaves the screen');
      x.keys('R');
      const s = await x.waitScreen((y) => /RECALL:/.test(y) && y.includes(a.invoice_number) && y.includes(b.invoice_number),
        'both in the recall list');
      const lines = s.split('\n');
      const ia = lines.findIndex((l) => l.includes(a.invoice_number));
      const ib = lines.findIndex((l) => l.includes(b.invoice_number));
      assert.ok(ib < ia, 'newest first');
      assert.match(lines[ib], /^> 1 .*READY\s+-> PREPARING/, 'the newest is selected, with where it goes');
      assert.match(lines[ia], /COMPLETED\s+-> READY.*2x Corndog Sosis/);
      x.keys('Down', 'Enter');
      await waitFor(async () => (await srv.get(a.invoice_number)).status === 'ready',
        { what: 'the completed order back to ready', describe: () => x.screen() });
      await x.waitScreen((y) => !/RECALL:/.test(y) && y.includes(a.invoice_number), 'the recalled ticket is back');
    });

    await t.test('r recalls the newest of the server\'s list', async () => {
      const c = await srv.post([{ product_id: 4, qty: 1 }]);
      await sleep(20);
      await srv.setStatus(c.invoice_number, 'ready'); // bumped on another screen, the newest
      await x.waitScreen((s) => s.includes(c.invoice_number), 'the new ticket');
      x.keys('r');
      await waitFor(async () => (await srv.get(c.invoice_number)).status === 'preparing',
        { what: 'the newest bump back to preparing', describe: () => x.screen() });
      assert.equal((await srv.get(a.invoice_number)).status, 'ready', 'the others untouched');
      assert.equal((await srv.get(b.invoice_number)).status, 'ready');
    });
    assert.equal(await x.quit(), 0, x.log());
  } finally {
    if (x) x.kill();
    await srv.cleanup();
  }
});

/** The seed's server, as a user would write it: socket.io 4.8 and no REST API at all. */
async function seedServer({ listing } = {}) {
  const me = { listing };
  const server = http.createServer((req, res) => {
    const l = me.listing;
    if (l && req.url.startsWith(l.path)) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify(l.orders));
    }
    res.writeHead(404, { 'Content-Type': 'text/html' });
    res.end('<!DOCTYPE html><pre>Cannot GET ' + req.url.replace(/[<>&]/g, '') + '</pre>');
  });
  const io = new Server(server);
  let n = 0;
  const seedOrder = () => ({
    invoice_number: `INV-20231103-${String(++n).padStart(4, '0')}`, date: '2023-11-03', total_amount: 15000,
    'ISI CORNDOG': { quantity: 1, total_amount: 6000, items: ['Corndog Sosis'] },
    'SAUS ASIN': { quantity: 2, total_amount: 2000, items: ['Saus Tomat', 'Mayonaise'] },
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(me, {
    url: `http://127.0.0.1:${server.address().port}`,
    io,
    seedOrder,
    emitOrder() { const o = seedOrder(); io.emit('new-order', o); return o; },
    async close() { io.close(); await new Promise((r) => server.close(r)); },
  });
}

test('live-only against a socket.io server without our REST API', async (t) => {
  const seed = await seedServer();
  let x;
  try {
    x = await Tui.start(['--server', seed.url, '--token', 'anything'], { cols: 120, rows: 36 });
    await t.test('the header and the message say live-only', async () => {
      const s = await x.waitScreen((y) => / LIVE ONLY /.test(headerOf(y)), 'LIVE ONLY in the header');
      assert.match(s, /live orders only/);
      assert.match(headerOf(s), /\(here\)/, 'no server figures: this screen\'s, marked so');
    });
    await t.test('seed-shaped new-order events show as tickets', async () => {
      await waitFor(() => seed.io.of('/').sockets.size > 0, { what: 'the display connected' });
      const o1 = seed.emitOrder();
      const o2 = seed.emitOrder();
      const s = await x.waitScreen((y) => y.includes(o1.invoice_number) && y.includes(o2.invoice_number), 'two live orders');
      assert.match(s, /1x Corndog Sosis/);
      assert.match(s, /Saus Tomat/);
      assert.ok(x.bells() >= 1, 'the bell rang');
    });
    await t.test('r recalls from this screen\'s own bumps (no server list)', async () => {
      x.keys('1'); // bump the oldest: the seed server has no order-status handler, so no ack
      await x.waitScreen(/1 waiting|no answer|not acknowledged|queued|…/, 'the bump is waiting for an answer');
    });
    await t.test('the listing is tried again in the background: when it answers, every open order shows', async () => {
      const listed = seed.seedOrder();
      seed.listing = { path: '/api/v1/orders', orders: [listed] };
      const s = await x.waitScreen((y) => / LIVE /.test(headerOf(y)) && y.includes(listed.invoice_number),
        'the listing back (tried every 30 s)', 45000);
      assert.doesNotMatch(headerOf(s), /LIVE ONLY/);
      assert.match(s, /order listing answers again/);
    });
    assert.ok(x.running(), 'still running');
    assert.equal(await x.quit(), 0, x.log());
  } finally {
    if (x) x.kill();
    await seed.close();
  }
});

test('--orders-url: the open orders from another listing path', async () => {
  const listing = { path: '/kitchen/open.json', orders: [] };
  const seed = await seedServer({ listing });
  let x;
  try {
    const first = seed.seedOrder();
    listing.orders.push(first); // open orders, in the same shape as the events
    x = await Tui.start(['--server', seed.url, '--token', 'x', '--orders-url', '/kitchen/open.json'], { cols: 120, rows: 36 });
    const s = await x.waitScreen((y) => / LIVE /.test(headerOf(y)) && y.includes(first.invoice_number), 'the listed order');
    assert.doesNotMatch(headerOf(s), /LIVE ONLY/);
    assert.equal(await x.quit(), 0, x.log());
  } finally {
    if (x) x.kill();
    await seed.close();
  }
});

test('--orders-url must be a path', async () => {
  const x = await Tui.start(['--server', 'http://127.0.0.1:9', '--orders-url', 'http://elsewhere/x']);
  try {
    await waitFor(() => x.exitStatus() !== null, { what: 'kds-tui to refuse the option' });
    assert.equal(x.exitStatus(), 2);
    assert.match(x.log(), /--orders-url/);
  } finally {
    x.kill();
  }
});

test('--sound: a command per new ticket and per cancel; a failing one is said once', async (t) => {
  const srv = await ourServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-sound-'));
  const played = path.join(dir, 'played');
  const count = () => { try { return fs.readFileSync(played, 'utf8').split('\n').filter(Boolean).length; } catch { return 0; } };
  let x, y;
  try {
    x = await Tui.start(['--server', srv.url, '--token', srv.token, '--sound', `echo ding >> '${played}'`], { cols: 120, rows: 36 });
    await x.waitScreen(/ LIVE /, 'live');
    await t.test('two new tickets: two sounds', async () => {
      const a = await srv.post([{ product_id: 1, qty: 1 }]);
      await x.waitScreen((s) => s.includes(a.invoice_number), 'the first ticket');
      await waitFor(() => count() === 1, { what: 'one sound' });
      await sleep(300);
      const b = await srv.post([{ product_id: 2, qty: 1 }]);
      await x.waitScreen((s) => s.includes(b.invoice_number), 'the second ticket');
      await waitFor(() => count() === 2, { what: 'two sounds' });
      t.a = a;
    });
    await t.test('a cancel plays it too', async () => {
      await sleep(300);
      await srv.setStatus(t.a.invoice_number, 'cancelled');
      await waitFor(() => count() === 3, { what: 'the cancel sound', describe: () => x.screen() });
    });
    await t.test('a status change that is not a cancel plays nothing', async () => {
      const o = await srv.post([{ product_id: 3, qty: 1 }]);
      await waitFor(() => count() === 4, { what: 'the third order\'s sound' });
      await srv.setStatus(o.invoice_number, 'preparing');
      await x.waitScreen(/PREPARING/, 'the change shown');
      await sleep(500);
      assert.equal(count(), 4);
    });
    assert.equal(await x.quit(), 0, x.log());

    y = await Tui.start(['--server', srv.url, '--token', srv.token, '--sound', 'exit 7'], { cols: 120, rows: 36 });
    await y.waitScreen(/ LIVE /, 'live');
    await t.test('a failing command: said once, the display carries on', async () => {
      const c = await srv.post([{ product_id: 4, qty: 1 }]);
      await y.waitScreen(/--sound: .*said once/, 'the failure on screen');
      await y.waitScreen((s) => s.includes(c.invoice_number), 'the ticket shows anyway');
      await sleep(300);
      const d = await srv.post([{ product_id: 5, qty: 1 }]);
      await y.waitScreen((s) => s.includes(d.invoice_number), 'the next ticket');
      await sleep(500);
      const said = y.log().split('\n').filter((l) => l.includes('--sound:')).length;
      assert.equal(said, 1, y.log());
      assert.ok(y.bells() >= 2, 'the bell still rings');
    });
    assert.equal(await y.quit(), 0, y.log());
  } finally {
    if (x) x.kill();
    if (y) y.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    await srv.cleanup();
  }
});
