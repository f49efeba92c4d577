'use strict';
// SPEC 12: `cmake --install BUILD --prefix P` lays out bin/ and share/kds/ (pages and the two
// browser bundles), and the installed server, started from / , serves the page, the
// socket.io client bundle, chart.js and the API. The prefix is moved after the install: the
// data folder is found relative to the binary. The build tree's binary, also started from /,
// keeps reading the source tree.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { api, SOURCE_DIR } = require('../lib/harness');
const { spawnUntil, run, lastLine } = require('../lib/proc');

const BUILD_DIR = process.env.KDS_BUILD_DIR || path.join(SOURCE_DIR, 'build');
const CMAKE = process.env.KDS_CMAKE || 'cmake';

/** Checks that a server at `url` answers the page, both bundles and the API. */
async function checkServes(url, token) {
  const page = await api(url, 'GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.text, /<html/i);
  const bundle = await api(url, 'GET', '/socket.io/socket.io.js');
  assert.equal(bundle.status, 200, 'the socket.io client bundle');
  assert.match(bundle.headers.get('content-type'), /javascript/);
  assert.equal(bundle.text, fs.readFileSync(path.join(SOURCE_DIR, 'node_modules/socket.io-client/dist/socket.io.js'), 'utf8'));
  const chart = await api(url, 'GET', '/vendor/chart.umd.js');
  assert.equal(chart.status, 200, 'chart.js');
  const products = await api(url, 'GET', '/api/v1/products', { token });
  assert.equal(products.status, 200, products.text);
  assert.ok(products.json.some((p) => p.name === 'Corndog Sosis'), products.text);
}

describe('cmake --install', () => {
  let tmp; let prefix;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-install-'));
    const first = path.join(tmp, 'first');
    run(CMAKE, ['--install', BUILD_DIR, '--prefix', first]);
    prefix = path.join(tmp, 'moved');
    fs.renameSync(first, prefix);
  });
  after(() => { if (tmp && !process.env.KDS_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true }); });

  it('installs the programs, the pages and the bundles under the prefix', () => {
    for (const f of ['bin/kds-server', 'bin/kds-tui', 'bin/kds-bench']) {
      fs.accessSync(path.join(prefix, f), fs.constants.X_OK);
    }
    for (const f of ['public/index.html', 'public/websocket-test.html', 'socket.io-client/socket.io.js',
      'socket.io-client/socket.io.min.js', 'chart.js/chart.umd.js']) {
      assert.ok(fs.existsSync(path.join(prefix, 'share/kds', f)), `share/kds/${f}`);
    }
    // Only under the prefix: the units and /etc/default/kds are the package's (component "system").
    const manifest = fs.readFileSync(path.join(BUILD_DIR, 'install_manifest.txt'), 'utf8').trim().split('\n');
    for (const f of manifest) assert.ok(f.startsWith(path.join(tmp, 'first') + path.sep), `${f} is under the prefix`);
    assert.ok(manifest.some((f) => f.endsWith('/share/man/man1/kds-server.1.gz')), 'the man pages');
    for (const prog of ['kds-server', 'kds-tui', 'kds-bench']) {
      assert.equal(run(path.join(prefix, 'bin', prog), ['--version']), run(path.join(BUILD_DIR, prog), ['--version']),
        `the installed ${prog} is the one built`);
    }
  });

  it('the installed server, started from /, serves the page, the bundles and the API', async () => {
    const bin = path.join(prefix, 'bin/kds-server');
    const db = path.join(tmp, 'kds.db');
    run(bin, ['--db', db, 'useradd', 'admin', '--role', 'admin'], { input: 'admin-secret\n', cwd: '/' });
    const token = lastLine(run(bin, ['--db', db, 'token', 'admin'], { cwd: '/' }));
    const srv = await spawnUntil(bin, ['--host', '127.0.0.1', '--port', '0', '--db', db, '--demo'], { cwd: '/' });
    try {
      await checkServes(srv.url, token);
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    }
  });

  it('the build tree\'s server, started from /, still reads the source tree', async () => {
    const bin = process.env.KDS_SERVER_BIN || path.join(BUILD_DIR, 'kds-server');
    const db = path.join(tmp, 'tree.db');
    run(bin, ['--db', db, 'useradd', 'admin', '--role', 'admin'], { input: 'admin-secret\n', cwd: '/' });
    const token = lastLine(run(bin, ['--db', db, 'token', 'admin'], { cwd: '/' }));
    const srv = await spawnUntil(bin, ['--host', '127.0.0.1', '--port', '0', '--db', db, '--demo'], { cwd: '/' });
    try {
      await checkServes(srv.url, token);
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    }
  });
});
