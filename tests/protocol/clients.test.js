'use strict';
// The unmodified npm socket.io-client (and its engine.io-client) against the conformance
// server: default transports (polling, then the upgrade), WebSocket only, polling only;
// events, acks, binary, namespaces, refused namespaces, heartbeats over several cycles, and
// the raw engine.io-client echo.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { sleep, startServer, WAIT } = require('./conformance');

let srv;
before(async () => { srv = await startServer(); });
after(async () => { assert.equal(await srv.stop(), 0, `conformance-server did not exit cleanly: ${srv.stderr()}`); });

const sockets = new Set();
after(() => { for (const s of sockets) s.close(); });

function client(path = '', opts = {}) {
  const s = io(`${srv.url}${path}`, { forceNew: true, reconnection: false, ...opts });
  sockets.add(s);
  return s;
}

function once(emitter, event, ms = WAIT) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event}`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

const variants = [
  ['default transports (polling, then upgrade)', undefined, 'websocket'],
  ['WebSocket only', ['websocket'], 'websocket'],
  ['polling only', ['polling'], 'polling'],
];

for (const [name, transports, finalTransport] of variants) {
  describe(`socket.io-client, ${name}`, () => {
    it('connects, gets its auth back, echoes, acks, binary; survives several ping cycles', async () => {
      const s = client('', { transports, auth: { token: 'abc', n: 1 } });
      const authP = once(s, 'auth');
      await once(s, 'connect');
      assert.match(s.id, /^[A-Za-z0-9_-]{20}$/);
      assert.deepEqual((await authP)[0], { token: 'abc', n: 1 });

      const back = once(s, 'message-back');
      s.emit('message', 1, '2', { three: [true, null] });
      assert.deepEqual(await back, [1, '2', { three: [true, null] }]);

      const acked = await s.timeout(WAIT).emitWithAck('message-with-ack', 'x', { y: 2 });
      assert.equal(acked, 'x');

      const bin = once(s, 'message-back');
      s.emit('message', Buffer.from([1, 2, 3]), { nested: [Buffer.from([4])] });
      const [b0, b1] = await bin;
      assert.deepEqual([...b0], [1, 2, 3]);
      assert.deepEqual([...b1.nested[0]], [4]);

      const binAck = await s.timeout(WAIT).emitWithAck('message-with-ack', Buffer.from([9, 8]));
      assert.deepEqual([...binAck], [9, 8]);

      if (finalTransport === 'websocket' && s.io.engine.transport.name !== 'websocket') await once(s.io.engine, 'upgrade');
      assert.equal(s.io.engine.transport.name, finalTransport);

      await sleep(1200); // four pingInterval + pingTimeout windows
      assert.equal(s.connected, true);
      const late = once(s, 'message-back');
      s.emit('message', 'late');
      assert.deepEqual(await late, ['late']);
      s.close();
    });
  });
}

describe('namespaces with socket.io-client', () => {
  it('/custom gets auth; an unknown namespace gets connect_error "Invalid namespace"', async () => {
    const custom = client('/custom', { auth: { who: 'custom' } });
    const authP = once(custom, 'auth');
    await once(custom, 'connect');
    assert.deepEqual((await authP)[0], { who: 'custom' });

    const bad = client('/nope');
    const [err] = await once(bad, 'connect_error');
    assert.equal(err.message, 'Invalid namespace');
  });

  it('main and custom share one Engine.IO connection (multiplexing)', async () => {
    const main = io(srv.url, { reconnection: false, forceNew: true });
    sockets.add(main);
    const custom = main.io.socket('/custom');
    sockets.add(custom);
    await Promise.all([once(main, 'connect'), once(custom, 'connect')]);
    assert.equal(main.io.engine, custom.io.engine);
    const back = once(main, 'message-back');
    main.emit('message', 'mux');
    assert.deepEqual(await back, ['mux']);
    custom.disconnect();
    await sleep(100);
    assert.equal(main.connected, true);
  });

  it('a server-side close is seen by the client as a disconnect', async () => {
    const s = client('', { transports: ['websocket'] });
    await once(s, 'connect');
    const d = once(s, 'disconnect');
    s.emit('message', 'x');
    s.io.engine.transport.ws.close(); // as if the network went away
    const [reason] = await d;
    assert.equal(reason, 'transport close');
  });
});
