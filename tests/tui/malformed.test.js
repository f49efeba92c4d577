'use strict';
// Malformed server input: hostile event payloads, broken Socket.IO/Engine.IO packets, broken
// WebSocket frames, oversized messages, bad REST answers and servers that are not servers.
// The display never crashes: it ignores what it cannot use, drops a broken link and
// reconnects, says what went wrong, and keeps showing orders.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { Tui, peerServer, waitFor, sleep } = require('./tui-lib');

test('malformed input from a socket.io server', async (t) => {
  // short pings: a link that stops carrying packets is noticed within a second or two
  const srv = await peerServer({ pingInterval: 600, pingTimeout: 600 });
  const { peer } = srv;
  let x;
  const alive = () => assert.equal(x.exitStatus(), null, `kds-tui exited:\n${x.log()}`);
  try {
    const good = await srv.post([{ product_id: 1, qty: 2 }]);
    x = await Tui.start(['--server', srv.url, '--token', srv.token]);
    await x.waitScreen((s) => / LIVE /.test(s) && s.includes(good.invoice_number), 'live');
    let reconnects = peer.listings;

    await t.test('hostile event payloads are ignored or cleaned', async () => {
      peer.emitRaw('new-order', 'not an object');
      peer.emitRaw('new-order', { invoice_number: 5 });
      peer.emitRaw('new-order');
      peer.emitRaw('order-updated', null);
      peer.emitRaw('order-deleted', [1, 2]);
      peer.emitRaw('order-deleted', { invoice_number: { nested: true } });
      peer.emitRaw('new-order', { invoice_number: 'INV-NOLINES', status: 'new', lines: 'nope' });
      peer.emitRaw('new-order', { invoice_number: 'INV-BADSTATUS', status: 42, lines: [] });
      peer.emitRaw('new-order', Buffer.from([1, 2, 3])); // a binary event
      peer.emitRaw('new-order', { invoice_number: 'INV-' + 'X'.repeat(500), status: 'new' });
      peer.emitRaw('some-other-event', { whatever: 1 });
      const now = new Date().toISOString();
      peer.emitRaw('new-order', {
        invoice_number: 'INV-EVIL-0001', status: 'new', created_at: now, updated_at: now,
        note: 'clear\u001b[2Jscreen\u0007 \ud800 lone',
        lines: [
          { name: 'Corn\u001b]0;pwned\u0007dog', category: 'ISI\u001b[31m CORNDOG', qty: 3 },
          { name: 'W'.repeat(400), category: 'SAUS ASIN', qty: 1e12 },
          { name: 'Kopi ☕ 珈琲', category: 'SAUS ASIN', qty: 2 },
        ],
      });
      const s = await x.waitScreen((y) => y.includes('INV-EVIL-0001'), 'the hostile-but-valid order');
      assert.ok(s.includes(good.invoice_number), 'the screen was not cleared by an escape sequence');
      assert.match(s, /3x Corn \]0;pwned dog/, 'escape and bell shown as spaces');
      assert.match(s, /2x Kopi ☕ 珈琲/, 'UTF-8 and wide characters kept');
      assert.match(s, /» clear \[2Jscreen/, 'the note cleaned');
      assert.doesNotMatch(s, /INV-NOLINES|INV-BADSTATUS|XXXXXXXXXX/, 'non-orders are not shown');
      assert.match(s, / LIVE /, 'still on the same link');
      assert.equal(peer.listings, reconnects, 'no reconnection was needed');
      alive();
    });

    const brokenLink = async (what, act) => {
      const before = peer.listings;
      act();
      // the link is dropped and made again: a new load of the open queue
      await waitFor(() => peer.listings > before, { what: `a reconnection after ${what}`, timeout: 20000,
        describe: () => `screen:\n${x.screen()}\nlog:\n${x.log()}` });
      await x.waitScreen((s) => / LIVE /.test(s) && s.includes(good.invoice_number), `live again after ${what}`);
      alive();
    };

    await t.test('invalid JSON in an event', () => brokenLink('bad JSON', () => peer.sendEioAll('42["new-order",{"invoice_number":')));
    await t.test('an unknown Socket.IO packet type', () => brokenLink('bad SIO type', () => peer.sendEioAll('47junk')));
    await t.test('an unknown Engine.IO packet type', () => brokenLink('bad EIO type', () => peer.sendEioAll('9hello')));
    await t.test('a WebSocket frame with a reserved opcode', () =>
      brokenLink('reserved opcode', () => peer.writeRawAll(Buffer.from([0x83, 0x00]))));
    await t.test('a WebSocket frame claiming 1 TB', () =>
      brokenLink('huge frame header', () => peer.writeRawAll(Buffer.from([0x81, 0x7f, 0, 0, 1, 0, 0, 0, 0, 0]))));
    await t.test('random bytes on the connection', () =>
      brokenLink('random bytes', () => peer.writeRawAll(Buffer.from('GARBAGE\r\n\r\n\x00\xff\xfe'.repeat(50), 'latin1'))));

    await t.test('an oversized event (2 MB): link dropped, the order still arrives through the reload', async () => {
      const before = peer.listings;
      const big = await srv.post([{ product_id: 3, qty: 7 }], `big ${'x'.repeat(2 * 1024 * 1024)}`);
      await waitFor(() => peer.listings > before, { what: 'a reload', timeout: 20000 });
      const s = await x.waitScreen((y) => / LIVE /.test(y) && y.includes(big.invoice_number), 'the big order');
      assert.match(s, /7x Mie/);
      assert.match(s, /» big/);
      assert.match(s, /xxxxxxxxxx…/, "the note is cut, with an ellipsis");
      alive();
    });

    await t.test('bad REST answers: error shown, retried, then live', async () => {
      let served = 0;
      const answers = [
        (res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('[{"invoice_number":'); },
        (res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"not":"an array"}'); },
        (res) => { res.writeHead(500, { 'Content-Type': 'application/json' }); res.end('{"error":{"code":"boom","message":"db down"}}'); },
        (res) => { res.socket.destroy(); },
      ];
      peer.listingOverride = (req, res) => answers[Math.min(served++, answers.length - 1)](res);
      peer.writeRawAll(Buffer.from([0x88, 0x00])); // a close frame: reconnect now
      await waitFor(() => served >= answers.length, { what: 'every bad answer to be tried', timeout: 30000,
        describe: () => `screen:\n${x.screen()}` });
      assert.match(x.screen(), /could not load the open orders|RECONNECTING/);
      peer.listingOverride = null;
      await x.waitScreen((s) => / LIVE /.test(s) && s.includes(good.invoice_number), 'live again', 40000);
      alive();
    });

    await t.test('after all that: a new order shows, and the display exits 0', async () => {
      const o = await srv.post([{ product_id: 8, qty: 9 }]);
      await x.waitScreen((s) => s.includes(o.invoice_number) && /9x Susu Kental Manis/.test(s), 'a normal order');
      assert.equal(await x.quit(), 0, x.log());
    });
  } finally {
    if (x) x.kill();
    await srv.cleanup();
  }
});

test('servers that are not Socket.IO servers', async () => {
  // Each connection gets the next kind of nonsense.
  const modes = [
    (sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'),
    (sock) => sock.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: wrong\r\n\r\n'),
    (sock) => sock.destroy(),
    (sock) => sock.end(Buffer.alloc(70000, 0x41)),
    (sock) => sock.end('HTTP/1.1 101 Switching Protocols\r\n' + 'X: y\r\n'.repeat(5000) + '\r\n'),
  ];
  let n = 0;
  const conns = new Set();
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    sock.once('data', () => modes[n++ % modes.length](sock));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const x = await Tui.start(['--server', `http://127.0.0.1:${server.address().port}`, '--token', 't']);
  try {
    await waitFor(() => n >= modes.length, { what: 'every kind of nonsense', timeout: 40000,
      describe: () => `screen:\n${x.screen()}\nlog:\n${x.log()}` });
    await sleep(300);
    const s = x.screen();
    assert.match(s, /RECONNECTING|CONNECTING/);
    assert.match(s, /No open tickets/);
    assert.equal(x.exitStatus(), null, 'still running');
    assert.equal(await x.quit(), 0, x.log());
  } finally {
    x.kill();
    for (const c of conns) c.destroy();
    await new Promise((r) => server.close(r));
  }
});
