'use strict';
// SPEC 12: deploy/nginx/kds.conf, run by Debian's nginx as an ordinary process on loopback
// ports, with a self-signed certificate this test makes with the openssl command. Behind it
// two kds-server processes (one store; --sid-prefix k1 / k2, --trust-proxy). Checked through
// https: the page and the bundle, REST, http -> https, a socket.io-client over wss receiving
// new-order, polling-only clients spread over both processes that stay up through several
// polls (sticky by sid), a polling client upgrading to WebSocket, and headless Chromium
// loading the page through nginx and seeing a live order. Also --trust-proxy itself: the
// login rate limit counts the last X-Forwarded-For address (nginx appends the one it saw).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { io } = require('socket.io-client');
const { start, sampleOrder, api, freePort, SOURCE_DIR } = require('../lib/harness');
const { next, withTimeout, sleep } = require('../lib/wait');

const NGINX = process.env.KDS_NGINX || '/usr/sbin/nginx';
const CHROMIUM = process.env.KDS_CHROMIUM || '/usr/bin/chromium';
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const WAIT = 10000;

/** One request over https (trusting only the test's CA) or http; {status, headers, text, json}. */
function request(url, { method = 'GET', body, headers = {}, ca } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const h = { ...headers };
    if (data) { h['Content-Type'] = 'application/json'; h['Content-Length'] = Buffer.byteLength(data); }
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, headers: h, ca, servername: 'localhost' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(WAIT, () => req.destroy(new Error(`timeout ${method} ${url}`)));
    if (data) req.write(data);
    req.end();
  });
}

const skip = (!fs.existsSync(NGINX) && `${NGINX} is missing (scripts/deps.sh --tests installs nginx)`)
  || (!has('openssl') && 'the openssl command is missing');

describe('TLS through nginx (deploy/nginx/kds.conf)', { skip }, () => {
  let tmp; let a; let b; let nginx; let ca; let base; let httpBase; const nginxLog = [];
  const sockets = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-nginx-'));
    // A self-signed certificate for localhost and 127.0.0.1: the clients trust it as their CA.
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(tmp, 'kds.key'),
      '-out', path.join(tmp, 'kds.crt')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    ca = fs.readFileSync(path.join(tmp, 'kds.crt'));

    const common = ['--trust-proxy', '--ping-interval', '400', '--ping-timeout', '3000', '--order-rate', '0'];
    a = await start({ args: [...common, '--sid-prefix', 'k1'] });
    b = await start({ dir: a.dir, tokens: a.tokens, args: [...common, '--sid-prefix', 'k2'] });

    const [port, httpPort] = [await freePort(), await freePort()];
    let site = fs.readFileSync(path.join(SOURCE_DIR, 'deploy/nginx/kds.conf'), 'utf8');
    const subst = [
      ['listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`], ['listen [::]:443 ssl;', ''],
      ['listen 80;', `listen 127.0.0.1:${httpPort};`], ['listen [::]:80;', ''],
      ['/etc/ssl/kds/kds.crt', path.join(tmp, 'kds.crt')], ['/etc/ssl/kds/kds.key', path.join(tmp, 'kds.key')],
      ['127.0.0.1:3001', `127.0.0.1:${a.port}`], ['127.0.0.1:3002', `127.0.0.1:${b.port}`],
    ];
    for (const [from, to] of subst) {
      assert.ok(site.includes(from), `kds.conf has "${from}"`);
      site = site.split(from).join(to);
    }
    fs.writeFileSync(path.join(tmp, 'kds.conf'), site);
    const isRoot = process.getuid && process.getuid() === 0;
    fs.writeFileSync(path.join(tmp, 'nginx.conf'), `${isRoot ? 'user root root;\n' : ''}worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log warn;
events { worker_connections 512; }
http {
  access_log ${tmp}/access.log;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  include ${tmp}/kds.conf;
}
`);
    const t = spawnSync(NGINX, ['-t', '-p', tmp, '-e', `${tmp}/error.log`, '-c', `${tmp}/nginx.conf`], { encoding: 'utf8' });
    assert.equal(t.status, 0, `nginx -t: ${t.stderr}`);
    nginx = spawn(NGINX, ['-p', tmp, '-e', `${tmp}/error.log`, '-c', `${tmp}/nginx.conf`, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    nginx.stderr.on('data', (d) => nginxLog.push(d.toString()));
    base = `https://127.0.0.1:${port}`;
    httpBase = `http://127.0.0.1:${httpPort}`;
    for (let i = 0; ; i++) {
      try { await request(`${base}/healthz`, { ca }); break; } catch (e) {
        if (i > 100 || nginx.exitCode !== null) throw new Error(`nginx did not come up: ${e.message} ${nginxLog.join('')}`);
        await sleep(50);
      }
    }
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGQUIT');
      await new Promise((r) => { const t = setTimeout(() => { nginx.kill('SIGKILL'); r(); }, 5000); nginx.on('exit', () => { clearTimeout(t); r(); }); });
    }
    if (b) await b.cleanup();
    if (a) await a.cleanup();
    if (tmp && !process.env.KDS_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The process (harness) that owns an Engine.IO sid, by its prefix. */
  const owner = (sid) => (sid.startsWith('k1') ? a : sid.startsWith('k2') ? b : assert.fail(`sid ${sid} has no prefix`));

  const connect = (opts) => {
    const s = io(base, { ca, reconnection: false, timeout: WAIT, ...opts });
    sockets.push(s);
    return withTimeout(new Promise((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    }), WAIT, 'socket.io connect through nginx');
  };

  it('serves the page and the bundle over https, REST included, and sends http to https', async () => {
    const page = await request(`${base}/`, { ca });
    assert.equal(page.status, 200);
    assert.match(page.text, /<html/i);
    assert.match(page.headers['strict-transport-security'], /max-age=/);
    const bundle = await request(`${base}/socket.io/socket.io.js`, { ca });
    assert.equal(bundle.status, 200);
    assert.equal(bundle.text, fs.readFileSync(path.join(SOURCE_DIR, 'node_modules/socket.io-client/dist/socket.io.js'), 'utf8'));
    const posted = await request(`${base}/api/v1/orders`, { method: 'POST', ca, body: sampleOrder(), headers: { Authorization: `Bearer ${a.tokens.kasir1}` } });
    assert.equal(posted.status, 201, posted.text);
    const redirect = await request(`${httpBase}/websocket-test.html`);
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, `https://127.0.0.1/websocket-test.html`);
  });

  it('a socket.io-client over wss receives new-order for a POST', async () => {
    const s = await connect({ transports: ['websocket'], auth: { token: a.tokens.dapur1 } });
    assert.equal(s.io.engine.transport.name, 'websocket');
    const h = owner(s.io.engine.id);
    const got = next(s, 'new-order');
    const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
    assert.equal(r.status, 201);
    assert.equal((await got).invoice_number, r.json.invoice_number);
  });

  it('long-polling sessions stick to their process (by sid) through several polls, and upgrade there', async () => {
    const polling = await Promise.all([0, 1, 2, 3, 4, 5].map(() => connect({ transports: ['polling'], auth: { token: a.tokens.dapur1 } })));
    const prefixes = new Set(polling.map((s) => s.io.engine.id.slice(0, 2)));
    assert.deepEqual([...prefixes].sort(), ['k1', 'k2'], 'new sessions spread over both processes');
    let dropped = 0;
    for (const s of polling) s.on('disconnect', () => { dropped++; });
    await sleep(1500); // several ping cycles (400 ms), each a long-poll through nginx
    assert.equal(dropped, 0, 'no session lost (a request on the wrong process would be "Session ID unknown")');
    for (const h of [a, b]) {
      const mine = polling.filter((s) => owner(s.io.engine.id) === h);
      const got = mine.map((s) => next(s, 'new-order'));
      const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
      for (const g of got) assert.equal((await g).invoice_number, r.json.invoice_number);
    }
    // The default transports: a polling handshake, then the upgrade (its ?sid= routes it).
    const up = await connect({ auth: { token: a.tokens.dapur1 } });
    if (up.io.engine.transport.name !== 'websocket') await withTimeout(new Promise((r) => up.io.engine.once('upgrade', r)), WAIT, 'upgrade');
    assert.equal(up.io.engine.transport.name, 'websocket');
  });

  it('headless Chromium loads the page through nginx and shows a live order', { skip: !fs.existsSync(CHROMIUM) && 'no chromium' }, async () => {
    const { chromium } = require('playwright-core');
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, ignoreHTTPSErrors: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      context.setDefaultTimeout(WAIT);
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/websocket-test.html`);
      await page.fill('#login-username', 'dapur1');
      await page.fill('#login-password', 'kitchen-secret');
      await page.click('#login-btn');
      await page.waitForSelector('#conn[data-state="connected"]');
      await page.waitForFunction(() => document.getElementById('transport').textContent === 'websocket');
      // The page is on one of the two processes: an order posted to each, one must show.
      const invs = [];
      for (const h of [a, b]) {
        const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
        assert.equal(r.status, 201);
        invs.push(r.json.invoice_number);
      }
      await page.waitForSelector(invs.map((i) => `article.card[data-invoice="${i}"]`).join(', '));
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });

  it('kds-tui --server https:// through nginx: the open orders over REST, live orders over wss',
    { skip: !fs.existsSync(require('../tui/tui-lib').TUI_BIN) && 'kds-tui is not built' }, async () => {
      const { Tui } = require('../tui/tui-lib');
      const before = await a.api('POST', '/api/v1/orders', { token: a.tokens.kasir1, body: sampleOrder() });
      assert.equal(before.status, 201);
      const x = await Tui.start(['--server', base, '--ca-file', path.join(tmp, 'kds.crt'), '--token', a.tokens.dapur1],
        { cols: 300, rows: 40 }); // eleven tickets side by side: earlier tests' orders are open too
      try {
        await x.waitScreen((s) => / LIVE /.test(s) && s.includes(before.json.invoice_number), 'the listed order, live', WAIT);
        // the display's WebSocket is on one of the two processes: an order posted to each, one arrives live
        const invs = [];
        for (const h of [a, b]) {
          const r = await h.api('POST', '/api/v1/orders', { token: h.tokens.kasir1, body: sampleOrder() });
          assert.equal(r.status, 201);
          invs.push(r.json.invoice_number);
        }
        await x.waitScreen((s) => invs.some((i) => s.includes(i)), 'a live order through nginx', WAIT);
        assert.equal(await x.quit(), 0, x.log());
      } finally {
        x.kill();
      }
    });

  it('--trust-proxy: the login limit counts the last X-Forwarded-For address (the one nginx appends)', async () => {
    const h = await start({ dir: a.dir, tokens: a.tokens, args: ['--trust-proxy', '--login-rate', '2'] });
    try {
      const fail = (xff) => h.api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'wrong' }, headers: xff ? { 'X-Forwarded-For': xff } : {} });
      for (let i = 0; i < 2; i++) assert.equal((await fail('203.0.113.7')).status, 401);
      assert.equal((await fail('203.0.113.7')).status, 429, 'that address is limited');
      assert.equal((await fail('198.51.100.1, 203.0.113.7')).status, 429, 'the last entry is the one counted');
      assert.equal((await fail('203.0.113.8')).status, 401, 'another address is not');
      assert.equal((await fail('not-an-address')).status, 401, 'a bad header falls back to the socket address');
    } finally {
      await h.cleanup();
    }
  });
});
