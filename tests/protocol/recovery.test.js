'use strict';
// Connection state recovery (PROTOCOL.md section 3) against the conformance server started
// with --recovery: pid in the CONNECT reply, offsets appended to events, missed events
// replayed BEFORE the CONNECT reply with the same sid and pid, failed restores, reasons
// that do not persist, and the unmodified socket.io-client reporting `recovered`.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { sleep, startServer, eioWs, WAIT } = require('./conformance');

let srv;
before(async () => { srv = await startServer(['--recovery']); });
after(async () => { assert.equal(await srv.stop(), 0, `conformance-server did not exit cleanly: ${srv.stderr()}`); });

const ID = '[A-Za-z0-9_-]{20}';
const OFFSET = '[0-9A-Za-z_-]+(?:\\.[0-9A-Za-z_-]+)?';

async function connect(auth) {
  const c = await eioWs(srv, '/socket.io/', { autoPong: true });
  c.send(auth === undefined ? '40' : `40${JSON.stringify(auth)}`);
  return c;
}

function parseConnect(data) {
  const m = new RegExp(`^40\\{"sid":"(${ID})","pid":"(${ID})"\\}$`).exec(data);
  assert.ok(m, `CONNECT reply with sid and pid: ${data}`);
  return { sid: m[1], pid: m[2] };
}

/** 42[...,"<offset>"]: returns [body without the offset, offset]. */
function splitOffset(data) {
  const m = new RegExp(`^(42\\[.*),"(${OFFSET})"\\]$`).exec(data);
  assert.ok(m, `event with an offset: ${data}`);
  return [`${m[1]}]`, m[2]];
}

describe('connection state recovery', () => {
  it('CONNECT reply carries a pid; events carry an offset as their last argument', async () => {
    const c = await connect();
    const { sid, pid } = parseConnect(await c.next());
    assert.notEqual(sid, pid);
    const [auth, off1] = splitOffset(await c.next());
    assert.equal(auth, '42["auth",{}]');
    c.send('42["message",1]');
    const [back, off2] = splitOffset(await c.next());
    assert.equal(back, '42["message-back",1]');
    assert.notEqual(off1, off2);
    c.close();
  });

  it('a transport close is recoverable: missed events first, then the same sid and pid', async () => {
    const c1 = await connect({ token: 't' });
    const first = parseConnect(await c1.next());
    const [, authOffset] = splitOffset(await c1.next());
    c1.send('42["message","while connected"]');
    const backRaw = await c1.next();
    splitOffset(backRaw);
    c1.close(); // TCP gone: "transport close"
    await sleep(100);

    const c2 = await connect({ token: 't', pid: first.pid, offset: authOffset });
    // everything after the offset, with its original offset, before the CONNECT reply
    assert.equal(await c2.next(), backRaw);
    const again = parseConnect(await c2.next());
    assert.deepEqual(again, first);
    const [auth] = splitOffset(await c2.next());
    assert.equal(auth, `42["auth",{"token":"t","pid":"${first.pid}","offset":"${authOffset}"}]`);
    c2.close();
  });

  it('a session is restored only once', async () => {
    const c1 = await connect();
    const first = parseConnect(await c1.next());
    const [, off] = splitOffset(await c1.next());
    c1.close();
    await sleep(100);
    const c2 = await connect({ pid: first.pid, offset: off });
    assert.equal(parseConnect(await c2.next()).sid, first.sid);
    const c3 = await connect({ pid: first.pid, offset: off });
    const third = parseConnect(await c3.next());
    assert.notEqual(third.sid, first.sid);
    c2.close();
    c3.close();
  });

  it('an unknown pid or offset gives a new session', async () => {
    const c1 = await connect();
    const first = parseConnect(await c1.next());
    await c1.next();
    c1.close();
    await sleep(100);
    const c2 = await connect({ pid: first.pid, offset: 'not-an-offset' });
    const second = parseConnect(await c2.next());
    assert.notEqual(second.sid, first.sid);
    assert.notEqual(second.pid, first.pid);
    const c3 = await connect({ pid: 'AAAAAAAAAAAAAAAAAAAA', offset: 'x' });
    assert.notEqual(parseConnect(await c3.next()).sid, first.sid);
    c2.close();
    c3.close();
  });

  it('pid and offset must both be strings', async () => {
    const c1 = await connect();
    const first = parseConnect(await c1.next());
    const [, off] = splitOffset(await c1.next());
    c1.close();
    await sleep(100);
    const c2 = await connect({ pid: first.pid, offset: 5 });
    assert.notEqual(parseConnect(await c2.next()).sid, first.sid);
    c2.close();
    const c3 = await connect({ pid: first.pid, offset: off }); // still there
    assert.equal(parseConnect(await c3.next()).sid, first.sid);
    c3.close();
  });

  it('a client namespace disconnect (41) is not recoverable', async () => {
    const c1 = await connect();
    const first = parseConnect(await c1.next());
    const [, off] = splitOffset(await c1.next());
    c1.send('41');
    await sleep(100);
    c1.close();
    await sleep(100);
    const c2 = await connect({ pid: first.pid, offset: off });
    assert.notEqual(parseConnect(await c2.next()).sid, first.sid);
    c2.close();
  });

  it('a parse error is not recoverable', async () => {
    const c1 = await connect();
    const first = parseConnect(await c1.next());
    const [, off] = splitOffset(await c1.next());
    c1.send('42[broken');
    await c1.waitClose();
    const c2 = await connect({ pid: first.pid, offset: off });
    assert.notEqual(parseConnect(await c2.next()).sid, first.sid);
    c2.close();
  });

  it('socket.io-client: recovered === true after a forced transport close, the missed event delivered', async () => {
    const socket = io(srv.url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
    try {
      const auths = [];
      socket.on('auth', (a) => auths.push(a));
      await new Promise((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      assert.equal(socket.recovered, false);
      await new Promise((resolve) => { const t = setInterval(() => { if (auths.length) { clearInterval(t); resolve(); } }, 10); });
      const backs = [];
      socket.on('message-back', (...a) => backs.push(a));
      const firstId = socket.id;
      const disconnected = new Promise((resolve) => socket.once('disconnect', resolve));
      const reconnected = new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no reconnect')), WAIT);
        socket.once('connect', () => { clearTimeout(t); resolve(); });
      });
      // The server gets the message, then the close: its answer is missed by this client,
      // which ignores a closed transport (one JS turn: no answer can arrive in between).
      socket.emit('message', 'missed');
      socket.io.engine.close(); // the transport goes away; the manager reconnects
      await disconnected;
      assert.equal(backs.length, 0);
      await reconnected;
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, firstId);
      socket.emit('message', 'after');
      await new Promise((resolve) => { const t = setInterval(() => { if (backs.length >= 2) { clearInterval(t); resolve(); } }, 10); });
      // the client keeps the offset as the last argument, as with the Node server
      assert.equal(backs[0][0], 'missed');
      assert.equal(backs[1][0], 'after');
      assert.equal(backs[0].length, 2);
    } finally {
      socket.close();
    }
  });
});
