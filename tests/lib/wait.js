'use strict';
// wait.js: what the integration tests wait on and check at the end, written once:
// timeouts, the next matching event, a socket.io-client connect, a POSTed order, the
// server's clean exit, and small date/regexp helpers.

const assert = require('node:assert/strict');
const { sampleOrder } = require('./harness');

const WAIT = 8000; // ms: the longest any single expected event may take (ASan build included)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const escapeRe = (text) => text.replace(/[^\w]/g, '\\$&');
const seqOf = (inv) => Number(inv.split('-')[2]);

/** Today's local date as YYYY-MM-DD (the invoice day). */
const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

/** `promise`, or a rejection naming `what` after `ms`. */
async function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** The next `event` on `emitter` whose payload satisfies `pred`. */
function next(emitter, event, pred = () => true, ms = WAIT) {
  const p = new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out waiting for "${event}"`));
    }, ms);
    t.unref(); // a wait nobody needs any more must not hold the process open
    function on(payload) {
      if (!pred(payload)) return;
      clearTimeout(t);
      emitter.off(event, on);
      resolve(payload);
    }
    emitter.on(event, on);
  });
  p.catch(() => {}); // a test that failed earlier may never await it
  return p;
}

/** Resolves when `socket` is connected; rejects with the connect_error (or a timeout). */
function connected(socket, ms = WAIT) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => done(new Error('timed out waiting for connect')), ms);
    t.unref();
    const onConnect = () => done(null);
    const onError = (err) => done(err);
    function done(err) {
      clearTimeout(t);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
      if (err) reject(err);
      else resolve(socket);
    }
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** POST /api/v1/orders, which must answer 201; the order JSON. */
async function postOrder(h, token, body = sampleOrder()) {
  const r = await h.api('POST', '/api/v1/orders', { token, body });
  assert.equal(r.status, 201, `POST /api/v1/orders: ${r.status} ${r.text}`);
  return r.json;
}

/** SIGTERM, then the checks: exit status 0 (under ASan that includes "no leaks"), temp dir removed. */
async function shutdown(h) {
  if (!h) return;
  const exit = await h.stop();
  await h.cleanup();
  assert.deepStrictEqual(exit, { code: 0, signal: null },
    `the server did not exit cleanly on SIGTERM; its last lines:\n${h.logs.slice(-30).join('\n')}`);
}

module.exports = { WAIT, sleep, escapeRe, seqOf, today, withTimeout, next, connected, postOrder, shutdown };
