'use strict';
// Helpers for the kds-tui tests: run the display inside a private tmux server (send-keys to
// press keys, capture-pane to read the screen, the window's bell flag for the bell), and one
// interface over the two servers it must work with: our kds-server (tests/lib/harness.js)
// and the official Node `socket.io` server (./peer-server.js).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('../lib/harness');

const SOURCE_DIR = process.env.KDS_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const TUI_BIN = process.env.KDS_TUI_BIN || path.join(SOURCE_DIR, 'build', 'kds-tui');

let counter = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws with `describe()` after `timeout` ms. */
async function waitFor(fn, { timeout = 15000, interval = 100, what = 'condition', describe } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}${describe ? `\n${await describe()}` : ''}`);
    }
    await sleep(interval);
  }
}

/**
 * One kds-tui inside its own tmux server.
 *   const t = await Tui.start(['--server', url, '--token', tok], {cols: 100, rows: 30});
 *   await t.waitScreen(/INV-/); t.keys('Enter'); await t.quit();
 */
class Tui {
  static async start(args, { cols = 100, rows = 30, env = {} } = {}) {
    const t = new Tui();
    t.socket = `kds-tui-test-${process.pid}-${++counter}`;
    t.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-tui-'));
    t.exitFile = path.join(t.dir, 'exit');
    t.logFile = path.join(t.dir, 'tui.log');
    t.errFile = path.join(t.dir, 'stderr');
    const q = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
    // The shell records the exit status (a crash or an ASan report makes it non-zero), then
    // keeps the pane open so that the last screen can still be read.
    const cmd = `${[TUI_BIN, ...args, '--log', t.logFile].map(q).join(' ')} 2>${q(t.errFile)}; ` +
      `echo $? > ${q(t.exitFile)}; sleep 600`;
    const envArgs = [];
    const fullEnv = { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TERM: 'screen', HOME: t.dir, ...env };
    for (const [k, v] of Object.entries(fullEnv)) envArgs.push('-e', `${k}=${v}`);
    t.tmux('-u', 'new-session', '-d', '-x', String(cols), '-y', String(rows), ...envArgs, cmd);
    t.tmux('set-option', '-g', 'status', 'off');
    // The pane keeps the size we ask for, whatever clients attach.
    t.tmux('set-option', '-g', 'window-size', 'manual');
    // every bell is counted (the window's bell flag only says "at least one")
    t.bellFile = path.join(t.dir, 'bells');
    t.tmux('set-hook', '-g', 'alert-bell', `run-shell "echo bell >> ${t.bellFile}"`);
    return t;
  }

  tmux(...args) {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** The screen as text, one line per row (trailing blanks trimmed by tmux). */
  screen() {
    try {
      return this.tmux('capture-pane', '-p');
    } catch (e) {
      return `<capture failed: ${e.message}>`;
    }
  }

  /** The screen with colours and attributes as escape sequences. */
  screenWithAttrs() {
    return this.tmux('capture-pane', '-p', '-e');
  }

  async waitScreen(pred, what, timeout = 15000) {
    const test = typeof pred === 'function' ? pred : (s) => pred.test(s);
    return waitFor(() => { const s = this.screen(); return test(s) ? s : null; },
      { timeout, what: what || String(pred), describe: () => `screen:\n${this.screen()}\nlog:\n${this.log()}` });
  }

  /** Presses keys (tmux key names: 'Enter', 'Space', 'Left', 'q', '1'). */
  keys(...keys) {
    this.tmux('send-keys', '-t', '0', ...keys);
  }

  /** The window's bell flag: set when the program rang the terminal bell. */
  bell() {
    return this.tmux('display-message', '-p', '#{window_bell_flag}').trim() === '1';
  }

  /** How many times the bell rang (tmux's alert-bell hook). */
  bells() {
    try {
      return fs.readFileSync(this.bellFile, 'utf8').split('\n').filter(Boolean).length;
    } catch {
      return 0;
    }
  }

  resize(cols, rows) {
    this.tmux('resize-window', '-x', String(cols), '-y', String(rows));
  }

  size() {
    const [c, r] = this.tmux('display-message', '-p', '#{pane_width} #{pane_height}').trim().split(' ').map(Number);
    return { cols: c, rows: r };
  }

  /** The exit status of kds-tui, or null while it runs. */
  exitStatus() {
    try {
      return Number(fs.readFileSync(this.exitFile, 'utf8').trim());
    } catch {
      return null;
    }
  }

  running() {
    return this.exitStatus() === null;
  }

  log() {
    let out = '';
    for (const f of [this.logFile, this.errFile]) {
      try { out += fs.readFileSync(f, 'utf8'); } catch { /* not written yet */ }
    }
    return out;
  }

  /** The pid of kds-tui itself (the shell's child), for signals. */
  pid() {
    const shell = this.tmux('display-message', '-p', '#{pane_pid}').trim();
    const kids = execFileSync('pgrep', ['-P', shell], { encoding: 'utf8' }).trim().split('\n');
    return Number(kids[0]);
  }

  /** Presses q and waits for the exit status. */
  async quit() {
    this.keys('q');
    const r = await waitFor(() => (this.exitStatus() === null ? null : { code: this.exitStatus() }),
      { timeout: 15000, what: 'kds-tui to exit', describe: () => `screen:\n${this.screen()}\nlog:\n${this.log()}` });
    return r.code;
  }

  /** Ends the tmux server (and so the display) and removes the files. Safe to call twice. */
  kill() {
    try { this.tmux('kill-server'); } catch { /* already gone */ }
    if (!process.env.KDS_KEEP_TMP) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs kds-tui --plain as a child process, collecting its lines. */
class Plain {
  static start(args, env = {}) {
    const { spawn } = require('node:child_process');
    const p = new Plain();
    p.lines = [];
    p.stderr = '';
    p.proc = spawn(TUI_BIN, ['--plain', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    p.proc.stdout.on('data', (d) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        p.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    p.proc.stderr.on('data', (d) => { p.stderr += d.toString('utf8'); });
    p.exited = new Promise((r) => p.proc.on('exit', (code, signal) => r({ code, signal })));
    return p;
  }

  async waitLine(re, what, timeout = 15000) {
    return waitFor(() => this.lines.find((l) => re.test(l)), { timeout, what: what || String(re),
      describe: () => `lines:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}` });
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    return this.exited;
  }
}

/**
 * The servers the display must work with, behind one interface:
 *   {name, url, token (kitchen), post(items, note) -> order, setStatus(inv, status),
 *    restart(), stop(), cleanup()}
 */
async function ourServer(opts = {}) {
  const { start, sampleOrder } = require('../lib/harness');
  const port = await freePort();
  const h = await start({ port, args: opts.args || [] });
  return {
    name: 'kds-server',
    h,
    url: h.url,
    token: h.tokens.dapur1,
    cashierToken: h.tokens.kasir1,
    async post(items, note) {
      const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1,
        body: sampleOrder(items, note ? { note } : {}) });
      if (r.status !== 201) throw new Error(`POST /orders: ${r.status} ${r.text}`);
      return r.json;
    },
    async setStatus(inv, status) {
      const r = await h.api('PATCH', `/api/v1/orders/${inv}/status`, { token: h.tokens.admin, body: { status } });
      if (r.status !== 200) throw new Error(`PATCH status: ${r.status} ${r.text}`);
      return r.json;
    },
    async get(inv) {
      return (await h.api('GET', `/api/v1/orders/${inv}`, { token: h.tokens.admin })).json;
    },
    restart: () => h.restart(),
    stop: () => h.stop(),
    cleanup: () => h.cleanup(),
  };
}

async function peerServer(opts = {}) {
  const { startPeer } = require('./peer-server');
  const peer = await startPeer(opts);
  return {
    name: 'socket.io (npm)',
    peer,
    url: peer.url,
    token: peer.tokens.dapur1,
    cashierToken: peer.tokens.kasir1,
    async post(items, note) { return peer.createOrder(items, note); },
    async setStatus(inv, status) { return peer.setStatus(inv, status); },
    async get(inv) { return peer.get(inv); },
    restart: () => peer.restart(),
    stop: () => peer.stop(),
    cleanup: () => peer.stop(),
  };
}

/** Both backends, our server first; KDS_TUI_BACKENDS=peer (or c) narrows it. */
const BACKENDS = [
  { name: 'kds-server', make: ourServer, key: 'c' },
  { name: 'socket.io peer', make: peerServer, key: 'peer' },
].filter((b) => !process.env.KDS_TUI_BACKENDS || process.env.KDS_TUI_BACKENDS.split(',').includes(b.key));

/** The number shown on a ticket's first line, for `invoice`: "3 INV-..." -> 3 (or null). */
function ticketNumber(screen, invoice) {
  const re = new RegExp(`(\\d) (?:INV-)?${invoice.replace(/^INV-/, '')}`);
  const m = re.exec(screen);
  return m ? Number(m[1]) : null;
}

module.exports = { Tui, Plain, BACKENDS, ourServer, peerServer, waitFor, sleep, freePort, ticketNumber, TUI_BIN };
