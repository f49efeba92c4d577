'use strict';
// A server process started from any binary and folder (an installed kds-server, an extracted
// .deb, nginx): spawn it, wait for a log line, stop it. The harness (harness.js) is the one
// for the build tree's server; this one is for the install, package and proxy tests.

const { spawn, spawnSync } = require('node:child_process');

/**
 * Spawns `cmd args` in `opts.cwd` (default '/') and resolves once a stdout/stderr line
 * matches `opts.ready` (default: the server's "listening on http://HOST:PORT" line) within
 * opts.timeout ms. Returns {proc, logs, match, port, url, stop()}; stop() sends SIGTERM and
 * resolves with {code, signal} (SIGKILL after 10 s).
 */
function spawnUntil(cmd, args, opts = {}) {
  const ready = opts.ready || /listening on http:\/\/[^:]+:(\d+)/;
  const proc = spawn(cmd, args, {
    cwd: opts.cwd || '/', env: { ...process.env, ...(opts.env || {}) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const h = {
    proc, logs, exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      h.stop('SIGKILL');
      reject(new Error(`${cmd}: no ${ready} within ${opts.timeout || 15000} ms; output:\n${logs.join('\n')}`));
    }, opts.timeout || 15000);
    const onData = (chunk) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        logs.push(line);
        if (process.env.KDS_TEST_VERBOSE) process.stderr.write(`[${cmd}] ${line}\n`);
        const m = h.match ? null : ready.exec(line);
        if (m) {
          h.match = m;
          if (m[1]) {
            h.port = Number(m[1]);
            h.url = `http://127.0.0.1:${h.port}`;
          }
          clearTimeout(timer);
          resolve(h);
        }
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    exited.then((r) => {
      clearTimeout(timer);
      if (!h.match) reject(new Error(`${cmd} exited (${r.code ?? r.signal}) before ${ready}:\n${logs.join('\n')}`));
    });
  });
}

/** Runs a command to completion; throws with its output unless it exits 0. Returns stdout. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout || 120000, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal ?? r.error}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** The last line of a command's output (how `kds-server token` prints its token). */
const lastLine = (s) => s.trim().split('\n').pop().trim();

module.exports = { spawnUntil, run, lastLine };
