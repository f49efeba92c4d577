'use strict';
// Socket.IO v5 against the conformance server's /socket.io/ at the wire level (PROTOCOL.md
// section 2 and the socket.io-protocol test suite): CONNECT with and without auth, custom
// and unknown namespaces, events, acks, binary attachments over both transports,
// DISCONNECT, "invalid state", malformed packets, connectTimeout.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { sleep, startServer, eioWs, sioWs, pollingSession, poll, push } = require('./conformance');

let srv;
before(async () => { srv = await startServer(); });
after(async () => { assert.equal(await srv.stop(), 0, `conformance-server did not exit cleanly: ${srv.stderr()}`); });

const SIO = '/socket.io/';

function connectReply(data, nsp = '') {
  const prefix = `40${nsp}${nsp ? ',' : ''}`;
  assert.ok(data.startsWith(prefix), data);
  const body = JSON.parse(data.slice(prefix.length));
  assert.deepEqual(Object.keys(body), ['sid']);
  assert.match(body.sid, /^[A-Za-z0-9_-]{20}$/);
  return body.sid;
}

describe('connect', () => {
  it('to "/" without payload: {sid} (not the Engine.IO sid), then auth {}', async () => {
    const c = await eioWs(srv, SIO, { autoPong: true });
    c.send('40');
    const sid = connectReply(await c.next());
    assert.notEqual(sid, c.handshake.sid);
    assert.equal(await c.next(), '42["auth",{}]');
    c.close();
  });

  it('to "/" with an auth payload, echoed as received', async () => {
    const c = await sioWs(srv, '40{"token":"123","n":1.50,"a":[true,null]}');
    connectReply(c.connectReply);
    assert.equal(c.auth, '42["auth",{"token":"123","n":1.50,"a":[true,null]}]');
    c.close();
  });

  it('to "/custom" with and without the trailing comma and with a payload', async () => {
    for (const [send, auth] of [['40/custom,', '{}'], ['40/custom', '{}'], ['40/custom,{"token":"abc"}', '{"token":"abc"}']]) {
      const c = await eioWs(srv, SIO, { autoPong: true });
      c.send(send);
      connectReply(await c.next(), '/custom');
      assert.equal(await c.next(), `42/custom,["auth",${auth}]`);
      c.close();
    }
  });

  it('to an unknown namespace: CONNECT_ERROR, the connection stays usable', async () => {
    const c = await eioWs(srv, SIO, { autoPong: true });
    c.send('40/random');
    assert.equal(await c.next(), '44/random,{"message":"Invalid namespace"}');
    c.send('40');
    connectReply(await c.next());
    assert.equal(await c.next(), '42["auth",{}]');
    c.close();
  });

  it('two namespaces on one connection', async () => {
    const c = await sioWs(srv);
    c.send('40/custom,');
    connectReply(await c.next(), '/custom');
    assert.equal(await c.next(), '42/custom,["auth",{}]');
    c.send('42["message","on main"]');
    assert.equal(await c.next(), '42["message-back","on main"]');
    c.close();
  });

  it('over polling: CONNECT reply and the first event in one GET', async () => {
    const sid = await pollingSession(srv, SIO);
    assert.equal(await (await push(srv, sid, '40{"token":"t"}', SIO)).text(), 'ok');
    const body = await (await poll(srv, sid, SIO)).text();
    const m = /^40\{"sid":"([A-Za-z0-9_-]{20})"\}\x1e42\["auth",\{"token":"t"\}\]$/.exec(body);
    assert.ok(m, body);
  });
});

describe('events and acks', () => {
  it('an event is answered with message-back and the same arguments', async () => {
    const c = await sioWs(srv);
    c.send('42["message",1,"2",{"3":[true]}]');
    assert.equal(await c.next(), '42["message-back",1,"2",{"3":[true]}]');
    c.close();
  });

  it('JSON is made compact, numbers and key order kept as received', async () => {
    const c = await sioWs(srv);
    c.send('42[ "message" , {"b":1,"a":2.50e1} ,\n"x y" ]');
    assert.equal(await c.next(), '42["message-back",{"b":1,"a":2.50e1},"x y"]');
    c.send('42["message"]');
    assert.equal(await c.next(), '42["message-back"]');
    c.close();
  });

  it('an ack request is answered in the same namespace with the same arguments', async () => {
    const c = await sioWs(srv);
    c.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    assert.equal(await c.next(), '43456[1,"2",{"3":[false]}]');
    c.send('420["message-with-ack"]');
    assert.equal(await c.next(), '430[]');
    c.close();
  });

  it('binary attachments (WebSocket): header then raw binary frames, in order', async () => {
    const c = await sioWs(srv);
    c.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    c.send(Buffer.from([1, 2, 3]));
    c.send(Buffer.from([4, 5, 6]));
    assert.equal(await c.next(), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    assert.deepEqual([...(await c.next())], [1, 2, 3]);
    assert.deepEqual([...(await c.next())], [4, 5, 6]);
    c.close();
  });

  it('binary ack (WebSocket)', async () => {
    const c = await sioWs(srv);
    c.send('451-7["message-with-ack",{"_placeholder":true,"num":0}]');
    c.send(Buffer.from([9, 8]));
    assert.equal(await c.next(), '461-7[{"_placeholder":true,"num":0}]');
    assert.deepEqual([...(await c.next())], [9, 8]);
    c.close();
  });

  it('binary over polling: b<base64> records in the same payload', async () => {
    const sid = await pollingSession(srv, SIO);
    await (await push(srv, sid, '40', SIO)).text();
    const first = await (await poll(srv, sid, SIO)).text();
    assert.match(first, /^40\{"sid":"[^"]+"\}\x1e42\["auth",\{\}\]$/);
    await (await push(srv, sid, '451-["message",{"_placeholder":true,"num":0}]\x1ebAQI=', SIO)).text();
    assert.equal(await (await poll(srv, sid, SIO)).text(), '451-["message-back",{"_placeholder":true,"num":0}]\x1ebAQI=');
  });

  it('events on a custom namespace carry its name', async () => {
    const c = await eioWs(srv, SIO, { autoPong: true });
    c.send('40/custom,');
    connectReply(await c.next(), '/custom');
    assert.equal(await c.next(), '42/custom,["auth",{}]');
    c.send('42/custom,["message","x"]'); // /custom has no message handler: nothing comes back
    c.send('40');
    connectReply(await c.next());
    assert.equal(await c.next(), '42["auth",{}]');
    c.close();
  });
});

describe('disconnect', () => {
  it('DISCONNECT from a custom namespace; the main one keeps working', async () => {
    const c = await sioWs(srv);
    c.send('40/custom');
    await c.next();
    await c.next();
    c.send('41/custom');
    c.send('42["message","message to main namespace"]');
    assert.equal(await c.next(), '42["message-back","message to main namespace"]');
    c.close();
  });

  it('DISCONNECT from "/": the Engine.IO connection stays open (pings go on) and may reconnect', async () => {
    const c = await sioWs(srv);
    const first = connectReply(c.connectReply);
    c.send('41');
    await sleep(1300); // longer than connectTimeout and several ping cycles (answered)
    c.send('40');
    const again = connectReply(await c.next());
    assert.notEqual(again, first);
    assert.equal(await c.next(), '42["auth",{}]');
    c.close();
  });
});

describe('invalid state and malformed packets close the connection', () => {
  it('an event before CONNECT', async () => {
    const c = await eioWs(srv, SIO, { autoPong: true });
    c.send('42["message","x"]');
    await c.waitClose();
  });

  it('a second CONNECT to a joined namespace', async () => {
    const c = await sioWs(srv);
    c.send('40');
    await c.waitClose();
  });

  it('a CONNECT_ERROR from the client', async () => {
    const c = await sioWs(srv);
    c.send('44{"message":"x"}');
    await c.waitClose();
  });

  const malformed = [
    ['an invalid handshake', '4abc'],
    ['an unknown type', '49'],
    ['broken JSON', '42["message"'],
    ['a trailing comma', '42["message",]'],
    ['a reserved event name', '42["disconnect"]'],
    ['an escaped reserved event name', '42["\\u0063onnect"]'],
    ['an empty event array', '42[]'],
    ['an event that is not an array', '42{"a":1}'],
    ['an event name that is not a string or number', '42[null]'],
    ['an event without payload', '42'],
    ['an absurd ack id', '4299999999999999999999["message"]'],
    ['too many attachments', '4511-["message"]'],
    ['attachments without the dash', '451["message"]'],
    ['a placeholder out of range', '451-["message",{"_placeholder":true,"num":1}]'],
    ['a DISCONNECT with a payload', '41{}'],
    ['a CONNECT with an array', '40[]'],
  ];
  for (const [name, packet] of malformed) {
    it(name, async () => {
      const c = await sioWs(srv);
      c.send(packet);
      await c.waitClose();
    });
  }

  it('a binary frame when no attachment is expected', async () => {
    const c = await sioWs(srv);
    c.send(Buffer.from([1, 2]));
    await c.waitClose();
  });

  it('a text packet while attachments are expected', async () => {
    const c = await sioWs(srv);
    c.send('451-["message",{"_placeholder":true,"num":0}]');
    c.send('42["message","x"]');
    await c.waitClose();
  });

  it('over polling too: the session is gone afterwards', async () => {
    const sid = await pollingSession(srv, SIO);
    await (await push(srv, sid, '42["message"', SIO)).text();
    const r = await poll(srv, sid, SIO);
    if (r.status === 200) assert.equal(await r.text(), '1');
    assert.equal((await poll(srv, sid, SIO)).status, 400);
  });
});

describe('connectTimeout', () => {
  it('a connection that joins no namespace is closed', async () => {
    const c = await eioWs(srv, SIO, { autoPong: true });
    await c.waitClose(); // ~1000 ms, pings answered all along
  });

  it('a connection that joined one is not', async () => {
    const c = await sioWs(srv);
    await sleep(1500);
    c.send('42["message","still here"]');
    assert.equal(await c.next(), '42["message-back","still here"]');
    c.close();
  });
});
