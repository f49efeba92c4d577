'use strict';
// Hostile https:// servers against the display's TLS layer (shared/net/tls.c): a server that
// never finishes the handshake, one that sends an enormous certificate chain, garbage inside
// TLS after the handshake, raw garbage below TLS after the handshake, and a close_notify in
// the middle of an HTTP response. Each time the display must say something, try again (a
// second connection comes), never show LIVE, and quit cleanly (exit 0: ASan found nothing).

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const { Tui, waitFor } = require('./tui-lib');

function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-atls-'));
  const f = (n) => path.join(dir, n);
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const key = (name) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', f(name));
  key('ca.key');
  ssl('req', '-x509', '-new', '-key', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=KDS Attack CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  key('server.key');
  ssl('req', '-new', '-key', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=server');
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
    'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext'));
  return { dir, ca: f('ca.pem'), key: fs.readFileSync(f('server.key')), leaf: fs.readFileSync(f('server.pem')),
    caPem: fs.readFileSync(f('ca.pem')) };
}

function listen(server) {
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
}

async function attackServers(c) {
  const creds = { key: c.key, cert: Buffer.concat([c.leaf, c.caPem]), minVersion: 'TLSv1.2' };
  const all = [];
  const mk = async (name, server, track = 'connection') => {
    const s = { name, conns: 0, server, socks: new Set() };
    server.on(track, () => { s.conns++; });
    server.on('connection', (k) => { s.socks.add(k); k.on('close', () => s.socks.delete(k)); k.on('error', () => {}); });
    server.on('tlsClientError', () => {});
    s.port = await listen(server);
    all.push(s);
    return s;
  };
  // 1. accepts, reads the ClientHello, answers nothing
  await mk('silent', net.createServer((k) => { k.on('data', () => {}); }));
  // 2. a certificate chain of ~600 copies of the CA (some 300 kB)
  await mk('chain', tls.createServer({ ...creds, cert: Buffer.concat([c.leaf, ...new Array(600).fill(c.caPem)]) },
    (k) => k.on('error', () => {})));
  // 3. after the handshake, 256 kB of random bytes as application data, then silence
  await mk('garbage-in-tls', tls.createServer(creds, (k) => { k.on('error', () => {}); k.write(crypto.randomBytes(256 << 10)); }),
    'secureConnection');
  // 4. raw bytes below TLS once the handshake is done (a relay in front of a TLS server)
  const inner = tls.createServer(creds, (k) => { k.on('error', () => {}); k.on('data', () => {}); });
  const innerPort = await listen(inner);
  await mk('garbage-under-tls', net.createServer((raw) => {
    const t = net.connect(innerPort, '127.0.0.1');
    raw.on('error', () => t.destroy()); t.on('error', () => raw.destroy());
    raw.pipe(t);
    let fromServer = 0;
    t.on('data', (d) => {
      raw.write(d);
      fromServer += d.length;
      // the server's flight (and, TLS 1.3, its tickets) sent: then 64 kB that are no TLS record
      if (fromServer > 0 && !raw.injected) {
        raw.injected = true;
        setTimeout(() => { if (!raw.destroyed) raw.write(crypto.randomBytes(64 << 10)); }, 200);
      }
    });
  }));
  // 5. an HTTP response cut by close_notify in the middle of its body
  await mk('close-notify', tls.createServer(creds, (k) => {
    k.on('error', () => {});
    k.once('data', () => k.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"invoice_'));
  }), 'secureConnection');
  return { all, close: async () => { for (const s of all) { for (const k of s.socks) k.destroy(); s.server.close(); } inner.close(); } };
}

// What the display says (its log): the handshake's own error, or what the HTTP/WebSocket code
// above made of the bytes (a bad record below TLS closes the stream: the user reads an EOF).
const WHY = {
  silent: /transport error: Connection timed out/,
  chain: /TLS: handshake failed: excessive message size/,
  'garbage-in-tls': /transport error: protocol error/,
  'garbage-under-tls': /transport error: (end of file|protocol error)|TLS: /,
  'close-notify': /transport error: protocol error/,
};

test('hostile TLS servers: an error on screen, a retry, never LIVE, a clean exit', async () => {
  const c = makeCerts();
  const srv = await attackServers(c);
  const tuis = [];
  try {
    for (const s of srv.all) {
      tuis.push({ s, x: await Tui.start(['--server', `https://127.0.0.1:${s.port}`, '--token', 'x', '--ca-file', c.ca],
        { cols: 120, rows: 30 }) });
    }
    // the silent one needs the 10 s connect timeout, the others fail at once and back off
    await Promise.all(tuis.map(({ s, x }) => waitFor(() => s.conns >= 2, {
      what: `${s.name}: a second attempt`, timeout: 25000,
      describe: () => `${s.name}: ${s.conns} connections\nscreen:\n${x.screen()}\nlog:\n${x.log()}`,
    })));
    for (const { s, x } of tuis) {
      const screen = x.screen();
      assert.match(x.log(), WHY[s.name], `${s.name}: the reason`);
      assert.ok(x.running(), `${s.name}: still running\n${x.log()}`);
      assert.doesNotMatch(screen.split('\n')[0], / LIVE /, `${s.name}: never LIVE`);
      assert.match(screen, /RECONNECTING|CONNECTING|OFFLINE/, `${s.name}: says it is not connected\n${screen}`);
    }
    for (const { s, x } of tuis) assert.equal(await x.quit(), 0, `${s.name}: ${x.log()}`);
  } finally {
    for (const { x } of tuis) x.kill();
    await srv.close();
    fs.rmSync(c.dir, { recursive: true, force: true });
  }
});
