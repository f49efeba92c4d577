'use strict';
// A hostile server's REST answers to the display (kds-tui/app_rest.c): day figures that are
// no numbers a kitchen has (1e308, negative, fractions of a ticket) and a recall list of a
// million entries. The header must show dashes or sane figures, never a wrapped-around
// count; the recall list is cut at the display's limit and the display stays responsive.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { Server } = require('socket.io');
const { Tui, waitFor } = require('./tui-lib');

function headerOf(screen) {
  return screen.split('\n')[0];
}

/** A socket.io server with our REST paths, answering whatever `me.stats` / `me.recall` hold. */
async function hostile() {
  const me = { stats: null, recall: '[]', statsServed: 0 };
  const server = http.createServer((req, res) => {
    const json = (body) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(body); };
    if (req.url.startsWith('/api/v1/orders')) return json('[]');
    if (req.url.startsWith('/api/v1/stats')) { me.statsServed++; return json(me.stats); }
    if (req.url.startsWith('/api/v1/recall')) return json(me.recall);
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"error":{"code":"not_found"}}');
  });
  const io = new Server(server);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(me, {
    url: `http://127.0.0.1:${server.address().port}`,
    io,
    async close() { io.close(); await new Promise((r) => server.close(r)); },
  });
}

const absurd = (tt) => JSON.stringify({ orders: { new: 0, preparing: 0, ready: 0 }, ticket_time: tt });

test('absurd day figures: the header shows dashes, never a wrapped count', async (t) => {
  const srv = await hostile();
  srv.stats = absurd({ count: 1e308, late: 1e308, avg_s: 1e308, p90_s: 1e308 });
  let x;
  try {
    x = await Tui.start(['--server', srv.url, '--token', 'x'], { cols: 120, rows: 30 });
    await t.test('1e308 everywhere', async () => {
      const s = await x.waitScreen((y) => / LIVE /.test(headerOf(y)) && /Today avg/.test(headerOf(y)), 'the header with the server figures');
      const h = headerOf(s);
      assert.doesNotMatch(h, /-\d/, `no negative number in the header: ${h}`);
      assert.match(h, /Today avg --:-- p90 --:-- late 0 /, h);
    });
    await t.test('negative figures and an average past any working day', async () => {
      srv.stats = absurd({ count: -4, late: -7, avg_s: 1e12, p90_s: -30 });
      const before = srv.statsServed;
      // a new order makes the display ask for the figures again
      srv.io.emit('new-order', { invoice_number: 'INV-20231103-0001', date: '2023-11-03', total_amount: 6000,
        'ISI CORNDOG': { quantity: 1, total_amount: 6000, items: ['Corndog Sosis'] } });
      await waitFor(() => srv.statsServed > before, { what: 'the stats asked again', timeout: 10000 });
      const s = await x.waitScreen((y) => /Today avg --:-- p90 --:-- late 0 /.test(headerOf(y)), 'dashes and late 0', 10000);
      assert.doesNotMatch(headerOf(s), /-\d/);
    });
    assert.ok(x.running(), x.log());
    assert.equal(await x.quit(), 0, x.log());
  } finally {
    if (x) x.kill();
    await srv.close();
  }
});

test('a recall list of a million entries: cut at the limit, the display keeps working', async () => {
  const srv = await hostile();
  srv.stats = absurd({ count: 1, late: 0, avg_s: 61, p90_s: 62 });
  const one = '{"invoice_number":"INV-X","status":"ready","table":1e308,"lines":[{"name":"A","qty":1e308}]}';
  srv.recall = `[${new Array(1e5).fill(one).join(',')}${',{}'.repeat(9e5)}]`;
  let x;
  try {
    x = await Tui.start(['--server', srv.url, '--token', 'x'], { cols: 120, rows: 30 });
    await x.waitScreen((y) => /Today avg 01:01 p90 01:02 late 0 /.test(headerOf(y)), 'sane figures shown as they are');
    x.keys('R');
    const s = await x.waitScreen((y) => /RECALL:/.test(y) && /INV-X/.test(y), 'the recall list', 20000);
    assert.match(s, /INV-X/);
    x.keys('Escape');
    await x.waitScreen((y) => !/RECALL:/.test(y), 'back to the tickets');
    assert.ok(x.running(), x.log());
    assert.equal(await x.quit(), 0, x.log());
  } finally {
    if (x) x.kill();
    await srv.close();
  }
});
