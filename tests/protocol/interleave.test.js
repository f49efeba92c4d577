'use strict';
// Two clients' binary packets interleaved with each other and with text packets
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, sioWs } = require('./conformance.js');
describe('interleaved binary packets', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { assert.equal(await srv.stop(), 0); });
  it('A header, B text, B binary header+att, A attachment, C bad binary', async () => {
    const a = await sioWs(srv), b = await sioWs(srv);
    a.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    a.send(Buffer.from([1]));
    b.send('42["message","hello"]');
    b.send('451-["message",{"_placeholder":true,"num":0}]');
    b.send(Buffer.from([7, 7]));
    a.send(Buffer.from([2]));
    assert.equal(await b.next(), '42["message-back","hello"]');
    assert.equal(await b.next(), '451-["message-back",{"_placeholder":true,"num":0}]');
    assert.deepEqual([...(await b.next())], [7, 7]);
    assert.equal(await a.next(), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    assert.deepEqual([...(await a.next())], [1]);
    assert.deepEqual([...(await a.next())], [2]);
    // a's decoder is back to shared: a text then works
    a.send('42["message",1]');
    assert.equal(await a.next(), '42["message-back",1]');
    a.close(); b.close();
  });
  it('a client leaving mid-packet frees its decoder (ASan exit status)', async () => {
    const a = await sioWs(srv);
    a.send('451-["message",{"_placeholder":true,"num":0}]');
    await new Promise((r) => setTimeout(r, 50));
    a.close();
    const b = await sioWs(srv);
    b.send('42["message",2]');
    assert.equal(await b.next(), '42["message-back",2]');
    b.close();
  });
});
