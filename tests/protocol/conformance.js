'use strict';
// Helpers for the protocol tests: start the conformance server (tests/protocol/
// conformance_server.c) on port 0, raw WebSocket clients with a message queue, and
// Engine.IO long-polling requests. Not a test file itself (no .test.js).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');
const WebSocket = require('ws');

const BUILD_DIR = process.env.KDS_BUILD_DIR || path.resolve(__dirname, '..', '..', 'build');
const BIN = path.join(BUILD_DIR, 'tests', 'protocol', 'conformance-server');

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const WAIT = 8000; // ms: the longest a single expected event may take (ASan build included)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the conformance server; returns {url, wsUrl, port, stop()} (stop resolves to the exit code). */
async function startServer(args = []) {
  if (!fs.existsSync(BIN)) throw new Error(`conformance-server not built at ${BIN} (set KDS_BUILD_DIR)`);
  const proc = spawn(BIN, ['--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out} ${err}`)), 15000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^\s]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    exited.then((code) => reject(new Error(`conformance-server exited (${code}): ${err}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    wsUrl: url.replace('http', 'ws'),
    stderr: () => err,
    /** SIGTERM, then the exit status: 0 means a clean shutdown (and, under ASan, no leak). */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * A raw WebSocket with a queue of received messages (text as strings, binary as Buffers).
 * autoPong: answer Engine.IO pings ("2") and keep them out of the queue.
 */
function openWs(url, { autoPong = false } = {}) {
  const ws = new WebSocket(url);
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? Buffer.from(data) : data.toString();
    if (autoPong && m === '2') {
      ws.send('3');
      return;
    }
    if (waiters.length) waiters.shift()(m);
    else queue.push(m);
  });
  ws.on('error', () => {});
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.on('close', () => reject(new Error('closed before open')));
  });
  opened.catch(() => {});
  return {
    ws,
    opened,
    closed,
    send: (d) => ws.send(d),
    /** The next message (rejects after `ms`). */
    next(ms = WAIT) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error('no message'));
        }, ms);
        const done = (m) => {
          clearTimeout(timer);
          resolve(m);
        };
        waiters.push(done);
      });
    },
    /** Resolves to {code, reason} when closed, rejects after `ms`. */
    waitClose(ms = WAIT) {
      return Promise.race([closed, sleep(ms).then(() => { throw new Error('not closed'); })]);
    },
    pending: () => queue.length,
    close: () => ws.terminate(),
  };
}

/** Opens an Engine.IO WebSocket session; returns the client after the open packet. */
async function eioWs(srv, p = '/engine.io/', opts) {
  const c = openWs(`${srv.wsUrl}${p}?EIO=4&transport=websocket`, opts);
  const open = await c.next();
  assert.match(open, /^0\{/);
  c.handshake = JSON.parse(open.slice(1));
  return c;
}

/** Opens a Socket.IO connection on "/" over WebSocket (pings answered): after 40 and auth. */
async function sioWs(srv, connect = '40') {
  const c = await eioWs(srv, '/socket.io/', { autoPong: true });
  c.send(connect);
  c.connectReply = await c.next();
  c.auth = await c.next();
  return c;
}

const eioPath = (srv, p, q) => `${srv.url}${p}?${new URLSearchParams(q)}`;

/** Opens a long-polling session; returns its sid. */
async function pollingSession(srv, p = '/engine.io/') {
  const r = await fetch(eioPath(srv, p, { EIO: 4, transport: 'polling' }));
  assert.equal(r.status, 200);
  const body = await r.text();
  assert.match(body, /^0\{/);
  return JSON.parse(body.slice(1)).sid;
}

function poll(srv, sid, p = '/engine.io/', extra = {}) {
  return fetch(eioPath(srv, p, { EIO: 4, transport: 'polling', sid, ...extra }));
}

function push(srv, sid, body, p = '/engine.io/', headers = {}) {
  return fetch(eioPath(srv, p, { EIO: 4, transport: 'polling', sid }), {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers },
  });
}

module.exports = {
  PING_INTERVAL, PING_TIMEOUT, WAIT, sleep, startServer, openWs, eioWs, sioWs, eioPath, pollingSession, poll, push,
};
