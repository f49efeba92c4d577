'use strict';
// SPEC 12: the server tolerates its unit's sandbox, as far as this machine can tell without
// systemd running it: kds-server (and `backup`) run under strace, as an unprivileged user with
// no new privileges (setpriv), serving the page, the bundle, REST, a login, /metrics and a
// socket.io-client that upgrades to WebSocket and gets new-order, then stopping on SIGTERM;
// every system call they made must pass deploy/systemd/kds-server.service's SystemCallFilter
// (the sets expanded by `systemd-analyze syscall-filter`). Then, as root where mount
// namespaces work, the same server with the unit's file-system view emulated by unshare:
// everything read-only but its state folder (ProtectSystem=strict), /root and /home empty
// (ProtectHome), a private /tmp (PrivateTmp). Release build only (ASan's runtime makes calls
// of its own).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { io } = require('socket.io-client');
const { api, sampleOrder, SOURCE_DIR } = require('../lib/harness');
const { spawnUntil, run, lastLine } = require('../lib/proc');
const { next } = require('../lib/wait');

const BUILD_DIR = process.env.KDS_BUILD_DIR || path.join(SOURCE_DIR, 'build');
const BIN = process.env.KDS_SERVER_BIN || path.join(BUILD_DIR, 'kds-server');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const isRoot = process.getuid && process.getuid() === 0;
const NOBODY = 65534;

const skip = (process.env.KDS_BUILD_TYPE === 'Asan' && 'the release build checks the system calls')
  || (!has('strace') && 'no strace (scripts/deps.sh --tests installs it)')
  || (spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', 'true']).status !== 0 && 'strace cannot trace here (no ptrace)')
  || (!has('systemd-analyze') && 'no systemd-analyze') || (!has('setpriv') && 'no setpriv');

/** The system calls of a filter expression (@group expanded, recursively). */
function expand(name, seen = new Set()) {
  if (!name.startsWith('@')) return [name];
  if (seen.has(name)) return [];
  seen.add(name);
  const out = run('systemd-analyze', ['syscall-filter', name]).split('\n').slice(1)
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return out.flatMap((n) => expand(n, seen));
}

/** Allowed system calls of a unit file: its SystemCallFilter= lines, in order. */
function allowedBy(unitText) {
  let allowed = null;
  for (const m of unitText.matchAll(/^SystemCallFilter=(~?)(.*)$/gm)) {
    const names = m[2].trim().split(/\s+/).flatMap((n) => expand(n));
    if (m[1] === '~') {
      if (allowed) for (const n of names) allowed.delete(n);
    } else {
      allowed = new Set([...(allowed || []), ...names]);
    }
  }
  return allowed;
}

/** The system calls in an strace -f log. */
const syscallsOf = (file) => new Set([...fs.readFileSync(file, 'utf8').matchAll(/^\d+\s+([a-z_0-9]+)\(/gm)].map((m) => m[1]));

describe('the unit\'s sandbox, under strace', { skip }, () => {
  let tmp;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-sandbox-'));
    fs.chmodSync(tmp, 0o755);
  });
  after(() => { if (tmp && !process.env.KDS_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true }); });

  it('every system call of the server and of backup passes SystemCallFilter', async () => {
    const unit = fs.readFileSync(path.join(SOURCE_DIR, 'deploy/systemd/kds-server.service'), 'utf8');
    const allowed = allowedBy(unit);
    assert.ok(allowed && allowed.has('epoll_wait') && !allowed.has('setuid'), 'the filter expands');
    const state = path.join(tmp, 'state');
    fs.mkdirSync(state);
    const db = path.join(state, 'kds.db');
    run(BIN, ['--db', db, 'useradd', 'admin', '--role', 'admin'], { input: 'admin-secret\n' });
    run(BIN, ['--db', db, 'useradd', 'dapur1', '--role', 'kitchen', '--outlet', '1'], { input: 'kitchen-secret\n' });
    const token = lastLine(run(BIN, ['--db', db, 'token', 'admin']));
    const kitchen = lastLine(run(BIN, ['--db', db, 'token', 'dapur1']));
    // As the service runs it: not root (the kds user; here nobody), no new privileges.
    const as = isRoot ? ['setpriv', '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--no-new-privs', '--']
      : ['setpriv', '--no-new-privs', '--'];
    if (isRoot) {
      for (const f of fs.readdirSync(state)) fs.chownSync(path.join(state, f), NOBODY, NOBODY);
      fs.chownSync(state, NOBODY, NOBODY);
    }
    const trace = path.join(tmp, 'server.trace');
    fs.writeFileSync(trace, '');
    if (isRoot) fs.chownSync(trace, NOBODY, NOBODY);
    const srv = await spawnUntil(as[0], [...as.slice(1), 'strace', '-f', '-qq', '-o', trace, BIN,
      '--host', '127.0.0.1', '--port', '0', '--db', db, '--demo', '--ping-interval', '300'], { cwd: '/' });
    let exit;
    try {
      assert.equal((await api(srv.url, 'GET', '/')).status, 200);
      assert.equal((await api(srv.url, 'GET', '/socket.io/socket.io.js')).status, 200);
      assert.equal((await api(srv.url, 'POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'admin-secret' } })).status, 200);
      const s = io(srv.url, { auth: { token: kitchen }, reconnection: false });
      await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); });
      if (s.io.engine.transport.name !== 'websocket') await new Promise((r) => s.io.engine.once('upgrade', r));
      const got = next(s, 'new-order');
      const r = await api(srv.url, 'POST', '/api/v1/orders', { token, body: sampleOrder() });
      assert.equal(r.status, 201, r.text);
      assert.equal((await got).invoice_number, r.json.invoice_number);
      assert.equal((await api(srv.url, 'GET', '/metrics')).status, 200);
      await new Promise((res) => setTimeout(res, 700)); // a few pings
      s.disconnect();
    } finally {
      // SIGTERM to the server itself (strace's child); strace exits with its status.
      const kids = fs.readFileSync(`/proc/${srv.proc.pid}/task/${srv.proc.pid}/children`, 'utf8').trim().split(/\s+/);
      if (kids[0]) process.kill(Number(kids[0]), 'SIGTERM');
      const t = setTimeout(() => srv.stop('SIGKILL'), 10000);
      exit = await srv.exited;
      clearTimeout(t);
    }
    assert.deepEqual(exit, { code: 0, signal: null }, srv.logs.join('\n'));

    const btrace = path.join(tmp, 'backup.trace');
    fs.writeFileSync(btrace, '');
    if (isRoot) fs.chownSync(btrace, NOBODY, NOBODY);
    run(as[0], [...as.slice(1), 'strace', '-f', '-qq', '-o', btrace, BIN, '--db', db, 'backup', path.join(state, 'copy.db')]);

    for (const [what, file] of [['kds-server', trace], ['kds-server backup', btrace]]) {
      const used = syscallsOf(file);
      assert.ok(used.has('epoll_wait') || what.includes('backup'), `${what}: the trace has the calls (${[...used]})`);
      const refused = [...used].filter((n) => !allowed.has(n) && n !== 'execve');
      assert.deepEqual(refused, [], `${what} made system calls the unit refuses`);
    }
  });

  const canUnshare = isRoot && has('unshare') && has('findmnt')
    && spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']).status === 0;
  it('runs with the file system as the unit shows it (ProtectSystem=strict, ProtectHome, PrivateTmp)',
    { skip: !canUnshare && 'needs root and mount namespaces (unshare)' }, async () => {
      // The state folder must not be under /tmp (a private /tmp hides it): the build folder.
      const state = fs.mkdtempSync(path.join(BUILD_DIR, 'sandbox-state-'));
      try {
        const db = path.join(state, 'kds.db');
        run(BIN, ['--db', db, 'useradd', 'admin', '--role', 'admin'], { input: 'admin-secret\n' });
        const token = lastLine(run(BIN, ['--db', db, 'token', 'admin']));
        for (const f of fs.readdirSync(state)) fs.chownSync(path.join(state, f), NOBODY, NOBODY);
        fs.chownSync(state, NOBODY, NOBODY);
        // A checkout under /tmp, /root or /home (CI clones into /tmp) would be hidden with them:
        // it is opened first, then bound back at its path inside the new empty folder (read-only
        // like the rest; what the unit runs lives in /usr, which these folders never hide).
        const view = `set -e
state="$1"; src="$2"; shift 2
exec 9<"$src"
mount --bind "$state" "$state"
mount -t tmpfs -o mode=1777 tmpfs /tmp
for d in /root /home /run/user; do if [ -d "$d" ]; then mount -t tmpfs -o mode=755 tmpfs "$d"; fi; done
case "$src" in
  /tmp/*|/root/*|/home/*|/run/user/*) mkdir -p "$src"; mount --no-canonicalize --rbind /proc/self/fd/9 "$src" ;;
esac
exec 9<&-
findmnt -rn -o TARGET | while read -r m; do
  case "$m" in "$state"|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp) continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
touch /usr/.kds-rw-probe 2>/dev/null && { echo "the file system is still writable" >&2; exit 3; }
exec "$@"`;
        const srv = await spawnUntil('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', view, 'sh', state, SOURCE_DIR,
          'setpriv', '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--no-new-privs', '--',
          BIN, '--host', '127.0.0.1', '--port', '0', '--db', db, '--demo'], { cwd: '/' });
        let exit;
        try {
          assert.equal((await api(srv.url, 'GET', '/')).status, 200);
          assert.equal((await api(srv.url, 'GET', '/socket.io/socket.io.js')).status, 200);
          const r = await api(srv.url, 'POST', '/api/v1/orders', { token, body: sampleOrder() });
          assert.equal(r.status, 201, r.text);
          assert.equal((await api(srv.url, 'GET', `/api/v1/orders/${r.json.invoice_number}`, { token })).status, 200);
        } finally {
          exit = await srv.stop();
        }
        assert.deepEqual(exit, { code: 0, signal: null }, srv.logs.join('\n'));
      } finally {
        fs.rmSync(state, { recursive: true, force: true });
      }
    });
});
