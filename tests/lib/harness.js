'use strict';
// Test harness: starts a real server (our kds-server, or the Node reference with
// KDS_TARGET=node) on 127.0.0.1 port 0 with a fresh SQLite file, creates users and
// device tokens through the server's own CLI, and offers small REST helpers.
//
//   const { start } = require('../lib/harness');
//   const h = await start({ wsAuth: 'on' });
//   const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: {...} });
//   await h.stop();

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SOURCE_DIR = process.env.KDS_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const TARGET = process.env.KDS_TARGET || 'c';

const DEFAULT_USERS = [
  { name: 'admin', role: 'admin', password: 'admin-secret' },
  { name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' },
  { name: 'dapur1', role: 'kitchen', outlet: 1, password: 'kitchen-secret' },
  { name: 'kasir2', role: 'cashier', outlet: 2, password: 'cashier2-secret' },
  { name: 'dapur2', role: 'kitchen', outlet: 2, password: 'kitchen2-secret' },
];

/** argv prefix that runs the server under test: [command, ...args]. */
function serverCommand(target = TARGET) {
  if (target === 'node') {
    const dir = process.env.KDS_NODE_REF_DIR || path.join(SOURCE_DIR, 'build', 'node-reference');
    const script = path.join(dir, 'server.js');
    if (!fs.existsSync(path.join(dir, 'node_modules'))) {
      throw new Error(`Node reference not installed in ${dir}: run scripts/node-ref.sh`);
    }
    return [process.execPath, script];
  }
  const bin = process.env.KDS_SERVER_BIN || path.join(SOURCE_DIR, 'build', 'kds-server');
  if (!fs.existsSync(bin)) throw new Error(`kds-server binary not found at ${bin} (set KDS_SERVER_BIN)`);
  return [bin];
}

/** Runs a CLI subcommand synchronously; returns stdout. Throws with stderr on failure. */
function cli(target, db, args, input) {
  const [cmd, ...pre] = serverCommand(target);
  const r = spawnSync(cmd, [...pre, '--db', db, ...args], { input, encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * Starts a server. Options:
 *   target   'c' (default, or KDS_TARGET) | 'node'
 *   wsAuth   'on' | 'off'            (default 'on')
 *   demo     load the demo menu      (default true)
 *   users    [{name, role, outlet?, password}] (default: admin, kasir1, dapur1, kasir2, dapur2)
 *   args     extra server arguments  (e.g. ['--order-rate', '0'])
 *   env      extra environment
 *   dir      reuse this directory (and its kds.db) instead of a fresh one
 *   public   the public/ directory (default <source>/public)
 * Returns {url, port, dir, db, proc, tokens, users, logs, api, login, waitForLog, stop, kill9, restart}.
 */
async function start(opts = {}) {
  const target = opts.target || TARGET;
  const dir = opts.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'kds-test-'));
  const db = path.join(dir, 'kds.db');
  const users = opts.users || DEFAULT_USERS;
  const tokens = opts.tokens || {};
  if (!opts.dir) {
    for (const u of users) {
      const args = ['useradd', u.name, '--role', u.role];
      if (u.outlet) args.push('--outlet', String(u.outlet));
      cli(target, db, args, `${u.password}\n`);
      const out = cli(target, db, ['token', u.name]).trim().split('\n');
      tokens[u.name] = out[out.length - 1].trim();
    }
  }

  const h = {
    target, dir, db, tokens, users, logs: [], proc: null, url: null, port: 0,
    api: (method, p, o) => api(h.url, method, p, o),
    login: async (username, password) => {
      const r = await api(h.url, 'POST', '/api/v1/auth/login', { body: { username, password } });
      if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
      return r.json.token;
    },
  };

  const launch = async () => {
    const [cmd, ...pre] = serverCommand(target);
    const args = [...pre, '--host', '127.0.0.1', '--port', String(opts.port || 0), '--db', db,
      '--ws-auth', opts.wsAuth || 'on', '--public', opts.public || path.join(SOURCE_DIR, 'public'),
      ...(opts.demo === false ? [] : ['--demo']), ...(opts.args || [])];
    const proc = spawn(cmd, args, {
      env: { ...process.env, ...(opts.env || {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    h.proc = proc;
    h.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
    const onData = (stream) => (chunk) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) h.logs.push(line);
        if (process.env.KDS_TEST_VERBOSE) process.stderr.write(`[server ${stream}] ${line}\n`);
      }
      for (const w of [...waiters]) w.check();
    };
    proc.stdout.on('data', onData('out'));
    proc.stderr.on('data', onData('err'));
    const line = await h.waitForLog(/listening on http:\/\/[^:]+:(\d+)/, 15000);
    h.port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(line)[1]);
    h.url = `http://127.0.0.1:${h.port}`;
  };

  const waiters = new Set();
  /** Resolves with the first log line (from now on, or already seen if `fromStart`) matching re. */
  h.waitForLog = (re, timeout = 5000, { fromStart = true } = {}) => new Promise((resolve, reject) => {
    const startIdx = fromStart ? 0 : h.logs.length;
    const w = {
      check() {
        const found = h.logs.slice(startIdx).find((l) => re.test(l));
        if (found !== undefined) {
          waiters.delete(w);
          clearTimeout(w.timer);
          resolve(found);
        }
      },
    };
    w.timer = setTimeout(() => {
      waiters.delete(w);
      reject(new Error(`timed out waiting for log ${re}; last lines:\n${h.logs.slice(-20).join('\n')}`));
    }, timeout);
    waiters.add(w);
    w.check();
    if (h.proc && h.proc.exitCode !== null && waiters.has(w)) {
      // the process is gone: nothing more will come
    }
  });

  /** Graceful stop (SIGTERM); resolves with {code, signal}. */
  h.stop = async (signal = 'SIGTERM') => {
    if (!h.proc || h.proc.exitCode !== null || h.proc.signalCode !== null) return h.exited;
    h.proc.kill(signal);
    const t = setTimeout(() => h.proc.kill('SIGKILL'), 10000);
    const r = await h.exited;
    clearTimeout(t);
    return r;
  };
  h.kill9 = async () => h.stop('SIGKILL');
  /** Starts the server again on the same database (a new port unless opts.port). */
  h.restart = async () => {
    await h.stop();
    h.logs.length = 0;
    await launch();
    return h;
  };
  /** Stops the server gracefully and removes its files. A graceful stop must exit 0: under
   * ASan a leak or a sanitizer report makes it non-zero, so every test that cleans up also
   * checks the server for leaks. */
  h.cleanup = async () => {
    const running = h.proc && h.proc.exitCode === null && h.proc.signalCode === null;
    const r = await h.stop();
    if (running && opts.checkExit !== false && (r.code !== 0 || r.signal)) {
      throw new Error(`server exited with ${r.code ?? r.signal} on SIGTERM; last lines:\n${h.logs.slice(-30).join('\n')}`);
    }
    if (!opts.dir && !process.env.KDS_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true });
  };

  await launch();
  return h;
}

/**
 * One HTTP request. o: {token, body (object → JSON), raw (string body), headers}.
 * Returns {status, headers, text, json}.
 */
async function api(base, method, p, o = {}) {
  const headers = { ...(o.headers || {}) };
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  let body;
  if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  } else if (o.raw !== undefined) {
    body = o.raw;
  }
  const res = await fetch(base + p, { method, headers, body });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** A sample order body with the demo menu. */
const sampleOrder = (items = [{ product_id: 1, qty: 1 }, { product_id: 5, qty: 1 }], extra = {}) =>
  ({ payment_method: 'CASH', items, ...extra });

/** Resolves when `emitter` emits `event` (first args array), rejects after `ms`. */
function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    emitter.once(event, (...args) => { clearTimeout(t); resolve(args); });
  });
}

/** A loopback TCP port that was free a moment ago (bound, then released): for a server that
 * must come back on the same port, or a peer (nginx, redis-server) given a port to listen on. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = require('node:net').createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

module.exports = { start, api, cli, serverCommand, sampleOrder, once, freePort, DEFAULT_USERS, SOURCE_DIR, TARGET };
