'use strict';
// kds-tui --server https://... (SPEC 5.1): TLS through OpenSSL, certificate and host name
// verified, against the system store or --ca-file. The test makes its own CA and server
// certificates with the openssl CLI, and puts (a) our kds-server behind a Node TLS proxy
// (tls.createServer piping to its loopback port), (b) the official socket.io server on Node's
// https server. An order shows through both the REST load and the live WebSocket; a refused
// certificate shows its reason on screen, no orders, and the display keeps retrying.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { Tui, Plain, ourServer, peerServer, waitFor } = require('./tui-lib');

/** CA + server certificates in a temp dir, with the openssl CLI. */
function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-tls-'));
  const f = (n) => path.join(dir, n);
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const key = (name) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', f(name));
  const ca = (name, cn) => {
    key(`${name}.key`);
    ssl('req', '-x509', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  };
  const leaf = (name, san, days = '2') => {
    key(`${name}.key`);
    ssl('req', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
    fs.writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n` +
      'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f(`${name}.pem`), '-days', days, '-extfile', f(`${name}.ext`));
    // the server sends its chain (leaf + our CA), as a real server would
    return { key: fs.readFileSync(f(`${name}.key`)),
      cert: Buffer.concat([fs.readFileSync(f(`${name}.pem`)), fs.readFileSync(f('ca.pem'))]) };
  };
  ca('ca', 'KDS Test CA');
  ca('other', 'Some Other CA');
  return {
    dir,
    ca: f('ca.pem'),
    otherCa: f('other.pem'),
    good: leaf('server', 'IP:127.0.0.1,DNS:localhost'),
    elsewhere: leaf('elsewhere', 'DNS:elsewhere.example'),
    expired: leaf('expired', 'IP:127.0.0.1,DNS:localhost', '-1'), // notAfter a day before notBefore
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A TLS endpoint on 127.0.0.1 in front of a plain TCP port (our kds-server). */
function tlsProxy(creds, targetPort) {
  const seen = { servernames: [], sessions: 0 };
  const server = tls.createServer({ ...creds, minVersion: 'TLSv1.2' }, (s) => {
    seen.sessions++;
    seen.servernames.push(s.servername || null);
    const c = net.connect(targetPort, '127.0.0.1');
    s.pipe(c);
    c.pipe(s);
    s.on('error', () => c.destroy());
    c.on('error', () => s.destroy());
    s.on('close', () => c.destroy());
    c.on('close', () => s.end());
  });
  server.on('tlsClientError', () => { seen.refused = (seen.refused || 0) + 1; });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      seen,
      close: () => new Promise((r) => { server.close(() => r()); }),
    }));
  });
}

const noOrders = (s) => !/INV-\d{8}-\d{4}/.test(s);

test('kds-tui over https://', async (t) => {
  const certs = makeCerts();
  const cleanups = [];
  const tuis = [];
  const tui = async (args) => {
    const x = await Tui.start(args, { cols: 160, rows: 30 });
    tuis.push(x);
    return x;
  };
  try {
    const srv = await ourServer();
    cleanups.push(() => srv.cleanup());
    const good = await tlsProxy(certs.good, srv.h.port);
    const elsewhere = await tlsProxy(certs.elsewhere, srv.h.port);
    const expired = await tlsProxy(certs.expired, srv.h.port);
    cleanups.push(() => good.close(), () => elsewhere.close(), () => expired.close());

    await t.test('kds-server behind TLS: the REST load and live events, with --ca-file', async () => {
      const before = await srv.post([{ product_id: 1, qty: 2 }], 'before the display');
      const x = await tui(['--server', `https://127.0.0.1:${good.port}`, '--token', srv.token, '--ca-file', certs.ca]);
      await x.waitScreen((s) => / LIVE /.test(s) && s.includes(before.invoice_number), 'the open order (REST over TLS)');
      const live = await srv.post([{ product_id: 3, qty: 5 }], 'while live');
      const s = await x.waitScreen((y) => y.includes(live.invoice_number), 'the new order (WebSocket over TLS)');
      assert.match(s, /5x Mie/);
      assert.match(s, /2x Corndog Sosis/);
      await x.waitScreen(/Today avg /, "the header's figures from GET /api/v1/stats (over TLS)");
      assert.ok(good.seen.sessions >= 2, 'the WebSocket and the REST client each went through TLS');
      // no SNI for an address (RFC 6066)
      assert.ok(good.seen.servernames.every((n) => n === null), `no SNI for 127.0.0.1: ${good.seen.servernames}`);
      // a bump goes out over the TLS WebSocket and comes back
      x.keys('Space');
      await x.waitScreen(/PREPARING|PREP/, 'the bump acknowledged over TLS');
      assert.equal(await x.quit(), 0, x.log());
    });

    await t.test('a host name: SNI sent, the certificate checked against it', async () => {
      const x = await tui(['--server', `https://localhost:${good.port}`, '--token', srv.token, '--ca-file', certs.ca]);
      await x.waitScreen(/ LIVE /, 'live through https://localhost');
      assert.ok(good.seen.servernames.includes('localhost'), `SNI localhost: ${good.seen.servernames}`);
      assert.equal(await x.quit(), 0, x.log());
    });

    await t.test('an unknown CA (the system store): the reason on screen, no orders, retried', async () => {
      const x = await tui(['--server', `https://127.0.0.1:${good.port}`, '--token', srv.token]);
      const s = await x.waitScreen(/TLS: certificate verify failed: self-signed certificate in certificate chain \(host 127\.0\.0\.1\)/,
        'the certificate error');
      assert.ok(noOrders(s), 'no orders shown');
      const tries = good.seen.refused || 0;
      await waitFor(() => (good.seen.refused || 0) > tries, { what: 'another attempt (backoff)', timeout: 20000 });
      await x.waitScreen(/RECONNECTING in \d+s|CONNECTING/, 'reconnecting');
      assert.equal(await x.quit(), 0, x.log());
    });

    await t.test('--ca-file of another CA: refused the same way', async () => {
      const x = await tui(['--server', `https://127.0.0.1:${good.port}`, '--token', srv.token, '--ca-file', certs.otherCa]);
      const s = await x.waitScreen(/TLS: certificate verify failed: self-signed certificate in certificate chain/,
        'the certificate error');
      assert.ok(noOrders(s), 'no orders shown');
      assert.equal(await x.quit(), 0, x.log());
    });

    await t.test('--plain: the reason with each retry', async () => {
      const p = Plain.start(['--server', `https://localhost:${good.port}`, '--token', srv.token, '--ca-file', certs.otherCa]);
      try {
        const re = /TLS: certificate verify failed: self-signed certificate in certificate chain \(host localhost\); reconnecting in/;
        await p.waitLine(re);
        await waitFor(() => p.lines.filter((l) => re.test(l)).length >= 2, { what: 'a second attempt' });
        assert.ok(!p.lines.some((l) => /INV-/.test(l)), 'no orders');
      } finally {
        const r = await p.stop();
        assert.equal(r.code, 0, p.stderr);
      }
    });

    await t.test('a certificate for another host: the host name error', async () => {
      const a = await tui(['--server', `https://127.0.0.1:${elsewhere.port}`, '--token', srv.token, '--ca-file', certs.ca]);
      const b = await tui(['--server', `https://localhost:${elsewhere.port}`, '--token', srv.token, '--ca-file', certs.ca]);
      const sa = await a.waitScreen(/TLS: certificate verify failed: IP address mismatch \(host 127\.0\.0\.1\)/, 'the address error');
      const sb = await b.waitScreen(/TLS: certificate verify failed: hostname mismatch \(host localhost\)/, 'the host name error');
      assert.ok(noOrders(sa) && noOrders(sb), 'no orders shown');
      assert.equal(await a.quit(), 0, a.log());
      assert.equal(await b.quit(), 0, b.log());
    });

    await t.test('an expired certificate: said so', async () => {
      const x = await tui(['--server', `https://127.0.0.1:${expired.port}`, '--token', srv.token, '--ca-file', certs.ca]);
      const s = await x.waitScreen(/TLS: certificate verify failed: certificate has expired \(host 127\.0\.0\.1\)/,
        'the expiry error');
      assert.ok(noOrders(s), 'no orders shown');
      assert.equal(await x.quit(), 0, x.log());
    });

    await t.test('https:// to a plain http server: a TLS error, not a hang', async () => {
      const x = await tui(['--server', `https://127.0.0.1:${srv.h.port}`, '--token', srv.token, '--ca-file', certs.ca]);
      await x.waitScreen(/TLS: handshake failed: /, 'the handshake error');
      assert.equal(await x.quit(), 0, x.log());
    });

    await t.test('a --ca-file that does not load: said at start', async () => {
      const bad = path.join(certs.dir, 'server.ext'); // not a certificate
      const r = require('node:child_process').spawnSync(require('./tui-lib').TUI_BIN,
        ['--plain', '--server', `https://127.0.0.1:${good.port}`, '--token', srv.token, '--ca-file', bad],
        { encoding: 'utf8', timeout: 10000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /--ca-file .*server\.ext: no CA certificate could be loaded/);
    });
  } finally {
    for (const x of tuis) x.kill();
    for (const c of cleanups.reverse()) await c();
  }

  await t.test('the official socket.io server on https.createServer', async () => {
    const peer = await peerServer({ tls: certs.good });
    let x;
    try {
      const before = await peer.post([{ product_id: 2, qty: 3 }]);
      x = await Tui.start(['--server', peer.url, '--token', peer.token, '--ca-file', certs.ca], { cols: 160, rows: 30 });
      await x.waitScreen((s) => / LIVE /.test(s) && s.includes(before.invoice_number), 'the listing over https');
      const live = await peer.post([{ product_id: 4, qty: 7 }]);
      const s = await x.waitScreen((y) => y.includes(live.invoice_number), 'the live order over wss');
      assert.match(s, /7x Kentang/);
      assert.equal(await x.quit(), 0, x.log());
    } finally {
      if (x) x.kill();
      await peer.cleanup();
    }
  });
  certs.cleanup();
});
