'use strict';
// Differential REST test: our kds-server against the Node reference (build/node-reference,
// installed by scripts/node-ref.sh). Both start with the same users and the demo menu; one
// scripted sequence of requests (every endpoint of SPEC 3, every validation error, bodies,
// auth, roles, idempotency keys, the whole transition table per role, listings, the menu
// admin, routing, 405/Allow, HEAD, CORS with an origin list, rate limits, and JSON text
// exactly as JSON.parse reads it: grammar, invalid UTF-8, "\u0000", lone surrogates, long
// numbers, repeated keys) runs against both, step by step, each request on its own raw
// connection, and each pair of answers is compared: status, error.code/field/current_status
// (and the error object's keys), error messages, the headers that carry meaning (Allow,
// Retry-After, Idempotent-Replayed, Content-Type, CORS and Vary, Content-Length of HEAD
// answers), and the bodies of successful answers after volatile values are normalised
// (timestamps, tokens, user ids as each CLI reported them, the date inside invoice
// numbers), key order included.
//
// Where the reference goes against SPEC (or fails on bad input), our behaviour is kept:
// those steps are listed in DIVERGENCES with what each server must answer, so a change on
// either side still fails. Where only the wording of an error message differs on purpose,
// MESSAGES says why.
//
// Skips (with the reason) when the reference is not installed (KDS_NODE_REF_DIR, default
// build/node-reference). KDS_DIFF_VERBOSE=1 prints every step; KDS_KEEP_TMP=1 keeps both
// databases.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const zlib = require('node:zlib');
const os = require('node:os');
const { spawn } = require('node:child_process');
const { start, serverCommand, SOURCE_DIR } = require('../lib/harness');

const REF_DIR = process.env.KDS_NODE_REF_DIR || path.join(SOURCE_DIR, 'build', 'node-reference');
const REF_MISSING = fs.existsSync(path.join(REF_DIR, 'node_modules', 'better-sqlite3')) &&
  fs.existsSync(path.join(REF_DIR, 'server.js'))
  ? false
  : `the Node reference is not installed in ${REF_DIR} (run scripts/node-ref.sh)`;

const ORDER_RATE = 200; // --order-rate for both: small enough to hit in the script
const USERS = [
  { name: 'admin', role: 'admin', password: 'admin-secret' },
  { name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' },
  { name: 'dapur1', role: 'kitchen', outlet: 1, password: 'kitchen-secret' },
  { name: 'kasir2', role: 'cashier', outlet: 2, password: 'cashier2-secret' },
  { name: 'dapur2', role: 'kitchen', outlet: 2, password: 'kitchen2-secret' },
  { name: 'kasir3', role: 'cashier', outlet: 1, password: 'cashier3-secret' }, // validation posts
  { name: 'kasir4', role: 'cashier', outlet: 1, password: 'cashier4-secret' }, // transition orders
  { name: 'burst', role: 'cashier', outlet: 3, password: 'burst-secret' }, // hits the order rate
];
const STATUSES = ['new', 'preparing', 'ready', 'completed', 'cancelled'];
const CORS = 'http://pos.example, http://kds.example'; // a list: echoed origins and Vary (http.test.js has '*')

// ---- raw HTTP ------------------------------------------------------------------------------

/**
 * One request on its own connection (Connection: close), bytes exactly as given.
 * req: {method, path, headers: [[name, value]], body: Buffer|undefined}; Content-Length is added
 * for a body unless the headers frame it already.
 * Resolves {status, headers (lower-case names; repeated ones joined by ', '), body: Buffer}.
 */
function rawRequest(port, req) {
  return new Promise((resolve, reject) => {
    const lines = [`${req.method} ${req.path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
    const names = new Set(req.headers.map(([k]) => k.toLowerCase()));
    for (const [k, v] of req.headers) lines.push(`${k}: ${v}`);
    if (req.body !== undefined && !names.has('content-length') && !names.has('transfer-encoding')) {
      lines.push(`Content-Length: ${req.body.length}`);
    }
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    const chunks = [];
    let done = false;
    const sock = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => finish(new Error('no complete answer within 10 s')), 10000);
    function finish(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const res = parseResponse(Buffer.concat(chunks), req.method);
      if (res) resolve(res);
      else reject(err || new Error(`incomplete answer: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
    }
    sock.on('connect', () => {
      sock.write(req.body ? Buffer.concat([head, req.body]) : head);
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => finish());
    sock.on('close', () => finish());
    // a server that answers before reading the whole body may reset: keep what arrived
    sock.on('error', (e) => finish(e));
  });
}

function parseResponse(buf, method) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...headerLines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return null;
  const status = Number(m[1]);
  if (status >= 100 && status < 200) return parseResponse(buf.subarray(end + 4), method); // 100 Continue
  const headers = {};
  for (const l of headerLines) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  let body = buf.subarray(end + 4);
  if (method === 'HEAD' || status === 204 || status === 304) {
    body = Buffer.alloc(0);
  } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const out = [];
    let p = 0;
    for (;;) {
      const le = body.indexOf('\r\n', p);
      if (le < 0) return null;
      const n = parseInt(body.subarray(p, le).toString('latin1'), 16);
      if (!(n >= 0)) return null;
      if (n === 0) break;
      out.push(body.subarray(le + 2, le + 2 + n));
      p = le + 2 + n + 2;
    }
    body = Buffer.concat(out);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (body.length < n) return null;
    body = body.subarray(0, n);
  }
  return { status, headers, body };
}

// ---- the script ------------------------------------------------------------------------------

const order = (items, extra = {}) => ({ payment_method: 'CASH', items, ...extra });
const ORDER = order([{ product_id: 1, qty: 1 }, { product_id: 5, qty: 2 }]);

/**
 * Builds the steps. A step: {name, method, path, as (user whose token), auth (raw
 * Authorization value), json (object: sent as application/json), body (raw string/Buffer),
 * type (Content-Type), headers ([[k, v]]), save(ctx, res), compareBody (false:
 * status and headers only)}. path/json/body/auth/headers may be functions of ctx, the
 * per-server state ({tokens, v: saved values}).
 */
function buildScript() {
  const steps = [];
  const posts = {}; // POST /orders per user: only `burst` may reach the rate
  const add = (name, spec) => {
    if (steps.some((s) => s.name === name)) throw new Error(`duplicate step name ${name}`);
    if (spec.method === 'POST' && typeof spec.path === 'string' && /^\/api\/v1\/orders\/?$/.test(spec.path) && spec.as) {
      posts[spec.as] = (posts[spec.as] || 0) + 1;
    }
    steps.push({ name, ...spec });
  };
  const get = (name, p, as, extra = {}) => add(name, { method: 'GET', path: p, as, ...extra });
  const post = (name, p, as, json, extra = {}) => add(name, { method: 'POST', path: p, as, json, ...extra });
  const patch = (name, p, as, json, extra = {}) => add(name, { method: 'PATCH', path: p, as, json, ...extra });
  const saveJson = (key, pick = (j) => j) => (ctx, res) => { if (res.json) ctx.v[key] = pick(res.json); };
  const inv = (key) => (ctx) => ctx.v[key]?.invoice_number ?? 'INV-MISSING';

  // --- public endpoints, routing, static files, CORS -------------------------------------------
  get('healthz', '/healthz');
  add('healthz HEAD', { method: 'HEAD', path: '/healthz' });
  add('healthz POST', { method: 'POST', path: '/healthz' });
  get('metrics', '/metrics', undefined, { compareBody: false });
  get('unknown path', '/nope');
  add('unknown path POST', { method: 'POST', path: '/nope', json: {} });
  add('unknown path HEAD', { method: 'HEAD', path: '/nope' });
  get('unknown api path', '/api/v1/nope', 'admin');
  add('unknown api path DELETE', { method: 'DELETE', path: '/api/v1/nope', as: 'admin' });
  get('api prefix alone', '/api/v1', 'admin');
  get('too deep order path', '/api/v1/orders/INV-1/status/x', 'admin');
  get('double slash', '/api/v1//orders', 'admin');
  get('unknown path with query', '/nope?x=1&y=2');
  get('static page', '/websocket-test.html');
  get('static index', '/');
  get('static missing file', '/missing.html');
  get('static dot-dot', '/../etc/passwd');
  get('static encoded dot-dot', '/%2e%2e/%2e%2e/etc/passwd');
  add('preflight orders', {
    method: 'OPTIONS', path: '/api/v1/orders',
    headers: [['Origin', 'http://pos.example'], ['Access-Control-Request-Method', 'POST'],
      ['Access-Control-Request-Headers', 'authorization, content-type, idempotency-key']],
  });
  add('preflight unknown path', { method: 'OPTIONS', path: '/whatever', headers: [['Origin', 'http://pos.example']] });
  add('preflight other origin', { method: 'OPTIONS', path: '/api/v1/orders', headers: [['Origin', 'http://evil.example'], ['Access-Control-Request-Method', 'DELETE']] });
  add('preflight without origin', { method: 'OPTIONS', path: '/api/v1/orders/INV-1' });
  const origin = (o) => ({ headers: [['Origin', o]] });
  get('cors on a simple GET', '/healthz', undefined, origin('http://pos.example'));
  get('cors second origin', '/healthz', undefined, origin('http://kds.example'));
  get('cors other origin', '/healthz', undefined, origin('http://evil.example'));
  get('cors origin other case', '/healthz', undefined, origin('HTTP://POS.EXAMPLE'));
  get('cors origin with a slash', '/healthz', undefined, origin('http://pos.example/'));
  get('cors empty origin', '/healthz', undefined, origin(''));
  get('cors null origin', '/healthz', undefined, origin('null'));
  get('cors two origins', '/healthz', undefined, { headers: [['Origin', 'http://pos.example'], ['Origin', 'http://kds.example']] });
  get('cors on an error', '/api/v1/orders', undefined, origin('http://pos.example'));
  get('cors on a 404', '/nope', undefined, origin('http://kds.example'));
  add('cors on a 405', { method: 'PUT', path: '/api/v1/orders', ...origin('http://pos.example') });
  add('cors on a HEAD', { method: 'HEAD', path: '/healthz', ...origin('http://pos.example') });
  get('cors on a static file', '/websocket-test.html', undefined, origin('http://pos.example'));
  add('cors on a 413', { method: 'POST', path: '/api/v1/auth/login', type: 'application/json', ...origin('http://pos.example'),
    body: JSON.stringify({ username: 'x'.repeat(70000), password: 'y' }) });

  // 405 with Allow (before authentication), HEAD on POST-only routes
  const m405 = [
    ['PUT', '/api/v1/orders'], ['DELETE', '/api/v1/orders'], ['PATCH', '/api/v1/orders'],
    ['GET', '/api/v1/auth/login'], ['PUT', '/api/v1/auth/login'], ['HEAD', '/api/v1/auth/login'],
    ['GET', '/api/v1/auth/logout'], ['DELETE', '/api/v1/categories'], ['PATCH', '/api/v1/categories'],
    ['PUT', '/api/v1/products'], ['GET', '/api/v1/products/1'], ['DELETE', '/api/v1/products/1'],
    ['POST', '/api/v1/products/1'], ['POST', '/api/v1/orders/INV-20240101-0001'],
    ['PUT', '/api/v1/orders/INV-20240101-0001'], ['GET', '/api/v1/orders/INV-20240101-0001/status'],
    ['POST', '/api/v1/orders/INV-20240101-0001/status'], ['HEAD', '/api/v1/orders/INV-20240101-0001/status'],
  ];
  for (const [method, p] of m405) add(`405 ${method} ${p}`, { method, path: p });
  add('405 with a token', { method: 'PUT', path: '/api/v1/orders', as: 'admin', json: ORDER });

  // --- authentication -----------------------------------------------------------------------------
  for (const u of ['admin', 'kasir1', 'dapur1', 'kasir2']) {
    const user = USERS.find((x) => x.name === u);
    post(`login ${u}`, '/api/v1/auth/login', undefined, { username: u, password: user.password },
      { save: (ctx, res) => { if (res.json?.token) ctx.tokens[`s_${u}`] = res.json.token; } });
  }
  // four failed logins (the rate-limit section below counts on that)
  post('login wrong password', '/api/v1/auth/login', undefined, { username: 'kasir1', password: 'nope' });
  post('login unknown user', '/api/v1/auth/login', undefined, { username: 'ghost', password: 'x' });
  post('login NUL in the username', '/api/v1/auth/login', undefined, { username: 'kasir1\u0000x', password: 'cashier-secret' });
  post('login NUL in the password', '/api/v1/auth/login', undefined, { username: 'kasir1', password: 'cashier-secret\u0000x' });
  post('login no username', '/api/v1/auth/login', undefined, { password: 'x' });
  post('login empty username', '/api/v1/auth/login', undefined, { username: '', password: 'x' });
  post('login numeric username', '/api/v1/auth/login', undefined, { username: 7, password: 'x' });
  post('login no password', '/api/v1/auth/login', undefined, { username: 'kasir1' });
  post('login empty password', '/api/v1/auth/login', undefined, { username: 'kasir1', password: '' });
  post('login array password', '/api/v1/auth/login', undefined, { username: 'kasir1', password: ['cashier-secret'] });
  add('login no body', { method: 'POST', path: '/api/v1/auth/login' });
  add('login not JSON', { method: 'POST', path: '/api/v1/auth/login', body: 'username=kasir1', type: 'application/json' });
  add('login form type', { method: 'POST', path: '/api/v1/auth/login', body: 'username=kasir1&password=x', type: 'application/x-www-form-urlencoded' });
  add('login JSON array', { method: 'POST', path: '/api/v1/auth/login', body: '[{"username":"kasir1"}]', type: 'application/json' });
  add('login extra keys', { method: 'POST', path: '/api/v1/auth/login', json: { username: 'dapur2', password: 'kitchen2-secret', remember: true } });

  // Authorization header shapes, on a route any role may use
  const authCases = [
    ['auth none', undefined],
    ['auth empty', ''],
    ['auth scheme only', 'Bearer'],
    ['auth scheme and blank', 'Bearer '],
    ['auth basic', 'Basic YWRtaW46YWRtaW4tc2VjcmV0'],
    ['auth token scheme', (ctx) => `Token ${ctx.tokens.dapur1}`],
    ['auth lower-case scheme', (ctx) => `bearer ${ctx.tokens.dapur1}`],
    ['auth upper-case scheme', (ctx) => `BEARER ${ctx.tokens.dapur1}`],
    ['auth extra blanks', (ctx) => `Bearer    ${ctx.tokens.dapur1}   `],
    ['auth tab', (ctx) => `Bearer\t${ctx.tokens.dapur1}`],
    ['auth no separator', (ctx) => `Bearer${ctx.tokens.dapur1}`],
    ['auth two tokens', (ctx) => `Bearer ${ctx.tokens.dapur1} ${ctx.tokens.dapur1}`],
    ['auth bad token', 'Bearer not-a-token'],
    ['auth truncated token', (ctx) => `Bearer ${ctx.tokens.dapur1.slice(0, -1)}`],
    ['auth huge token', `Bearer ${'x'.repeat(2000)}`],
    ['auth session token', (ctx) => `Bearer ${ctx.tokens.s_dapur1}`],
    ['auth NBSP separator', (ctx) => `Bearer\xa0${ctx.tokens.dapur1}`],
    ['auth NBSP after', (ctx) => `Bearer ${ctx.tokens.dapur1}\xa0`],
    ['auth NBSP inside', (ctx) => `Bearer ${ctx.tokens.dapur1.slice(0, 9)}\xa0${ctx.tokens.dapur1.slice(9)}`],
  ];
  for (const [name, value] of authCases) {
    add(name, { method: 'GET', path: '/api/v1/categories', ...(value === undefined ? {} : { auth: value }) });
  }

  // logout: revokes that token only
  post('logout dapur1 session', '/api/v1/auth/logout', 's_dapur1', undefined);
  get('revoked session', '/api/v1/categories', 's_dapur1');
  post('logout revoked session', '/api/v1/auth/logout', 's_dapur1', undefined);
  get('device token still works', '/api/v1/categories', 'dapur1');
  post('logout without token', '/api/v1/auth/logout', undefined, undefined);
  post('logout bad token', '/api/v1/auth/logout', undefined, undefined, { auth: 'Bearer nope' });
  add('logout ignores its body', { method: 'POST', path: '/api/v1/auth/logout', as: 's_kasir2', body: 'junk', type: 'text/plain' });
  get('kasir2 session after logout', '/api/v1/orders', 's_kasir2');

  // --- menu ------------------------------------------------------------------------------------------
  get('categories', '/api/v1/categories', 'dapur1');
  get('products', '/api/v1/products', 'kasir1');
  add('categories HEAD', { method: 'HEAD', path: '/api/v1/categories', as: 'dapur1' });
  add('categories HEAD unauthenticated', { method: 'HEAD', path: '/api/v1/categories' });
  get('categories trailing slash', '/api/v1/categories/', 'dapur1');
  get('categories upper-case path', '/API/V1/CATEGORIES', 'dapur1');
  get('categories with query', '/api/v1/categories?x=1', 'dapur1');
  get('categories unauthenticated', '/api/v1/categories');
  get('products unauthenticated', '/api/v1/products');

  post('category as cashier', '/api/v1/categories', 'kasir1', { name: 'X' });
  post('category as kitchen', '/api/v1/categories', 'dapur1', { name: 'X' });
  post('category unauthenticated', '/api/v1/categories', undefined, { name: 'X' });
  add('category as kitchen, bad JSON', { method: 'POST', path: '/api/v1/categories', as: 'dapur1', body: '{', type: 'application/json' });
  add('category bad JSON', { method: 'POST', path: '/api/v1/categories', as: 'admin', body: '{', type: 'application/json' });
  add('category no body', { method: 'POST', path: '/api/v1/categories', as: 'admin' });
  add('category text body', { method: 'POST', path: '/api/v1/categories', as: 'admin', body: 'MINUMAN', type: 'text/plain' });
  post('category MINUMAN', '/api/v1/categories', 'admin', { name: 'MINUMAN', sort_order: 0 }, { save: saveJson('catMinuman') });
  post('category duplicate', '/api/v1/categories', 'admin', { name: 'MINUMAN' });
  post('category duplicate after trim', '/api/v1/categories', 'admin', { name: '  MINUMAN \t' });
  post('category other case', '/api/v1/categories', 'admin', { name: 'minuman' });
  post('category default sort', '/api/v1/categories', 'admin', { name: 'TOPPING' }, { save: saveJson('catTopping') });
  post('category null sort', '/api/v1/categories', 'admin', { name: 'EXTRA', sort_order: null });
  post('category negative sort', '/api/v1/categories', 'admin', { name: 'PROMO', sort_order: -5 });
  post('category float sort', '/api/v1/categories', 'admin', { name: 'F1', sort_order: 1.5 });
  post('category string sort', '/api/v1/categories', 'admin', { name: 'F2', sort_order: '3' });
  post('category bool sort', '/api/v1/categories', 'admin', { name: 'F3', sort_order: true });
  post('category integral float sort', '/api/v1/categories', 'admin', { name: 'F4', sort_order: 7.0 });
  for (const k of ['invoice_number', 'date', 'total_amount', 'status', 'created_at', 'updated_at',
    'payment_method', 'outlet_id', 'note', 'lines']) {
    post(`category reserved ${k}`, '/api/v1/categories', 'admin', { name: k });
  }
  post('category reserved after trim', '/api/v1/categories', 'admin', { name: ' status ' });
  post('category reserved other case', '/api/v1/categories', 'admin', { name: 'Status' });
  post('category no name', '/api/v1/categories', 'admin', { sort_order: 3 });
  post('category empty name', '/api/v1/categories', 'admin', { name: '' });
  post('category blank name', '/api/v1/categories', 'admin', { name: ' \t\n ' });
  post('category numeric name', '/api/v1/categories', 'admin', { name: 12 });
  post('category name 101', '/api/v1/categories', 'admin', { name: 'C'.repeat(101) });
  post('category name 100', '/api/v1/categories', 'admin', { name: 'C'.repeat(100) });
  post('category name 100 emoji units', '/api/v1/categories', 'admin', { name: '😀'.repeat(50) });
  post('category name 101 emoji units', '/api/v1/categories', 'admin', { name: `x${'😀'.repeat(50)}` });
  post('category escaped name', '/api/v1/categories', 'admin', { name: 'Es "Teh" \\ / \u0001 ☕ ñ', sort_order: 9 },
    { save: saveJson('catOdd') });
  get('categories after adds', '/api/v1/categories', 'kasir2');

  post('product as cashier', '/api/v1/products', 'kasir1', { name: 'X', price: 1, category_id: 1 });
  post('product as kitchen', '/api/v1/products', 'dapur1', { name: 'X', price: 1, category_id: 1 });
  post('product unauthenticated', '/api/v1/products', undefined, { name: 'X', price: 1, category_id: 1 });
  post('product Es Teh', '/api/v1/products', 'admin', (ctx) => ({ name: 'Es Teh', price: 5000, category_id: ctx.v.catMinuman?.id }),
    { save: saveJson('pEsTeh') });
  post('product padded name', '/api/v1/products', 'admin', (ctx) => ({ name: '  Keju  ', price: 2500, category_id: ctx.v.catTopping?.id }),
    { save: saveJson('pKeju') });
  post('product free', '/api/v1/products', 'admin', { name: 'Air Putih', price: 0, category_id: 1 }, { save: saveJson('pFree') });
  post('product active false ignored', '/api/v1/products', 'admin', (ctx) => ({ name: 'Odd', price: 1, category_id: ctx.v.catOdd?.id, active: false }),
    { save: saveJson('pOdd') });
  post('product extra keys', '/api/v1/products', 'admin', { name: 'Extra', price: 1, category_id: 1, id: 500, category: 'x' });
  const badProducts = [
    ['product no name', { price: 1, category_id: 1 }],
    ['product empty name', { name: '', price: 1, category_id: 1 }],
    ['product blank name', { name: '   ', price: 1, category_id: 1 }],
    ['product name 101', { name: 'P'.repeat(101), price: 1, category_id: 1 }],
    ['product padded name 101', { name: ` ${'P'.repeat(99)} `, price: 1, category_id: 1 }],
    ['product numeric name', { name: 5, price: 1, category_id: 1 }],
    ['product no price', { name: 'X', category_id: 1 }],
    ['product negative price', { name: 'X', price: -1, category_id: 1 }],
    ['product float price', { name: 'X', price: 1.5, category_id: 1 }],
    ['product string price', { name: 'X', price: '100', category_id: 1 }],
    ['product null price', { name: 'X', price: null, category_id: 1 }],
    ['product no category', { name: 'X', price: 1 }],
    ['product unknown category', { name: 'X', price: 1, category_id: 999 }],
    ['product string category', { name: 'X', price: 1, category_id: '1' }],
    ['product float category', { name: 'X', price: 1, category_id: 1.5 }],
    ['product zero category', { name: 'X', price: 1, category_id: 0 }],
    ['product bad everything', { name: '', price: -1, category_id: 'x' }],
  ];
  for (const [name, body] of badProducts) post(name, '/api/v1/products', 'admin', body);
  add('product array body', { method: 'POST', path: '/api/v1/products', as: 'admin', body: '[]', type: 'application/json' });

  patch('patch product as cashier', '/api/v1/products/1', 'kasir1', { price: 1 });
  patch('patch product as kitchen', '/api/v1/products/1', 'dapur1', { active: false });
  patch('patch product unauthenticated', '/api/v1/products/1', undefined, { price: 1 });
  patch('patch product abc', '/api/v1/products/abc', 'admin', { price: 1 });
  patch('patch product 999', '/api/v1/products/999', 'admin', { price: 1 });
  patch('patch product 0', '/api/v1/products/0', 'admin', { price: 1 });
  patch('patch product -1', '/api/v1/products/-1', 'admin', { price: 1 });
  patch('patch product 1.0', '/api/v1/products/1.0', 'admin', { price: 1 });
  patch('patch product huge id', '/api/v1/products/99999999999999999999', 'admin', { price: 1 });
  patch('patch product encoded id', '/api/v1/products/%31', 'admin', {});
  add('patch product 999 bad JSON', { method: 'PATCH', path: '/api/v1/products/999', as: 'admin', body: 'nope', type: 'application/json' });
  add('patch product no body', { method: 'PATCH', path: '/api/v1/products/1', as: 'admin' });
  patch('patch product empty', '/api/v1/products/1', 'admin', {});
  patch('patch product leading zero', '/api/v1/products/01', 'admin', {});
  patch('patch product price', '/api/v1/products/1', 'admin', { price: 6500 });
  patch('patch product rename', '/api/v1/products/3', 'admin', { name: '  Mie Goreng ' });
  patch('patch product move category', '/api/v1/products/8', 'admin', (ctx) => ({ category_id: ctx.v.catMinuman?.id }));
  patch('patch product deactivate', '/api/v1/products/4', 'admin', { active: false });
  patch('patch product bad active string', '/api/v1/products/4', 'admin', { active: 'no' });
  patch('patch product bad active number', '/api/v1/products/4', 'admin', { active: 0 });
  patch('patch product null active', '/api/v1/products/4', 'admin', { active: null });
  patch('patch product empty name', '/api/v1/products/1', 'admin', { name: '' });
  patch('patch product null name', '/api/v1/products/1', 'admin', { name: null });
  patch('patch product null price', '/api/v1/products/1', 'admin', { price: null });
  patch('patch product float price', '/api/v1/products/1', 'admin', { price: 10.5 });
  patch('patch product unknown category', '/api/v1/products/1', 'admin', { category_id: 999 });
  patch('patch product two bad fields', '/api/v1/products/1', 'admin', { price: -3, active: 'x' });
  patch('patch product unknown keys', '/api/v1/products/2', 'admin', { id: 77, category: 'x', colour: 'red' });
  patch('patch product all fields', '/api/v1/products/2', 'admin', { name: 'Corndog Mozza', price: 8500, category_id: 1, active: true });
  get('products after patches', '/api/v1/products', 'dapur2');

  // --- order creation: validation (kasir3, outlet 1) --------------------------------------------
  const bad = [
    ['order no payment_method', { items: [{ product_id: 1, qty: 1 }] }],
    ['order lower-case payment_method', order([{ product_id: 1, qty: 1 }], { payment_method: 'cash' })],
    ['order unknown payment_method', order([{ product_id: 1, qty: 1 }], { payment_method: 'BITCOIN' })],
    ['order numeric payment_method', order([{ product_id: 1, qty: 1 }], { payment_method: 1 })],
    ['order null payment_method', order([{ product_id: 1, qty: 1 }], { payment_method: null })],
    ['order payment_method and items bad', { payment_method: 'X' }],
    ['order no items', { payment_method: 'CASH' }],
    ['order empty items', order([])],
    ['order items object', order({ product_id: 1, qty: 1 })],
    ['order items string', order('1x corndog')],
    ['order items null', order(null)],
    ['order 201 items', order(Array.from({ length: 201 }, () => ({ product_id: 1, qty: 1 })))],
    ['order 201 bad items', order(Array.from({ length: 201 }, () => 'x'))],
    ['order item number', order([1])],
    ['order item null', order([null])],
    ['order item array', order([[1, 1]])],
    ['order item string', order(['corndog'])],
    ['order second item bad', order([{ product_id: 1, qty: 1 }, 7])],
    ['order product_id missing', order([{ qty: 1 }])],
    ['order product_id string', order([{ product_id: '1', qty: 1 }])],
    ['order product_id float', order([{ product_id: 1.5, qty: 1 }])],
    ['order product_id zero', order([{ product_id: 0, qty: 1 }])],
    ['order product_id negative', order([{ product_id: -1, qty: 1 }])],
    ['order product_id unknown', order([{ product_id: 999, qty: 1 }])],
    ['order product_id huge', order([{ product_id: 1e21, qty: 1 }])],
    ['order product_id bool', order([{ product_id: true, qty: 1 }])],
    ['order product_id null', order([{ product_id: null, qty: 1 }])],
    ['order product_id object', order([{ product_id: { id: 1 }, qty: 1 }])],
    ['order product inactive', order([{ product_id: 4, qty: 1 }])],
    ['order third product bad', order([{ product_id: 1, qty: 1 }, { product_id: 2, qty: 1 }, { product_id: 99, qty: 1 }])],
    ['order product and qty bad', order([{ product_id: 99, qty: 0 }])],
    ['order qty missing', order([{ product_id: 1 }])],
    ['order qty 0', order([{ product_id: 1, qty: 0 }])],
    ['order qty -1', order([{ product_id: 1, qty: -1 }])],
    ['order qty 1000', order([{ product_id: 1, qty: 1000 }])],
    ['order qty 1.5', order([{ product_id: 1, qty: 1.5 }])],
    ['order qty string', order([{ product_id: 1, qty: '2' }])],
    ['order qty null', order([{ product_id: 1, qty: null }])],
    ['order qty bool', order([{ product_id: 1, qty: true }])],
    ['order second qty bad', order([{ product_id: 1, qty: 1 }, { product_id: 1, qty: 1000 }])],
    ['order note too long', order([{ product_id: 1, qty: 1 }], { note: 'n'.repeat(501) })],
    ['order note 251 emoji', order([{ product_id: 1, qty: 1 }], { note: '🌶'.repeat(251) })],
    ['order note number', order([{ product_id: 1, qty: 1 }], { note: 5 })],
    ['order note object', order([{ product_id: 1, qty: 1 }], { note: { text: 'x' } })],
    ['order note array', order([{ product_id: 1, qty: 1 }], { note: ['x'] })],
    ['order note false', order([{ product_id: 1, qty: 1 }], { note: false })],
    ['order items bad before note', order([{ product_id: 1, qty: 0 }], { note: 5 })],
  ];
  for (const [name, body] of bad) post(name, '/api/v1/orders', 'kasir3', body);
  post('order as kitchen', '/api/v1/orders', 'dapur1', ORDER);
  post('order as kitchen, bad body', '/api/v1/orders', 'dapur1', { nonsense: true });
  post('order unauthenticated', '/api/v1/orders', undefined, ORDER);
  post('order bad token', '/api/v1/orders', undefined, ORDER, { auth: 'Bearer x' });
  // the offending value is quoted in the message
  post('order product_id long string', '/api/v1/orders', 'kasir3', order([{ product_id: 'p'.repeat(150), qty: 1 }]));
  post('order product_id very long string', '/api/v1/orders', 'kasir3', order([{ product_id: 'p'.repeat(400), qty: 1 }]));
  // the same JSON text, parsed the same: a repeated key means its last value
  add('order duplicate key', {
    method: 'POST', path: '/api/v1/orders', as: 'kasir3', type: 'application/json',
    body: '{"payment_method":"BITCOIN","items":[{"product_id":1,"qty":1}],"payment_method":"QRIS"}',
  });
  add('order duplicate nested key', {
    method: 'POST', path: '/api/v1/orders', as: 'kasir3', type: 'application/json',
    body: '{"payment_method":"CASH","items":[{"product_id":1,"qty":0,"qty":2}]}',
  });

  // --- bodies and content types (kasir3) ------------------------------------------------------------
  const V = JSON.stringify(order([{ product_id: 2, qty: 1 }]));
  const bodyCases = [
    ['body none', {}],
    ['body empty with JSON type', { body: '', type: 'application/json' }],
    ['body empty without type', { body: '' }],
    ['body blank with JSON type', { body: '  \r\n ', type: 'application/json' }],
    ['body not JSON', { body: '{"payment_method":"CASH"', type: 'application/json' }],
    ['body trailing garbage', { body: `${V} x`, type: 'application/json' }],
    ['body two objects', { body: `${V}${V}`, type: 'application/json' }],
    ['body trailing whitespace', { body: `${V} \n`, type: 'application/json' }],
    ['body leading whitespace', { body: ` \n${V}`, type: 'application/json' }],
    ['body JSON array', { body: '[1,2]', type: 'application/json' }],
    ['body JSON string', { body: '"CASH"', type: 'application/json' }],
    ['body JSON number', { body: '42', type: 'application/json' }],
    ['body JSON null', { body: 'null', type: 'application/json' }],
    ['body JSON true', { body: 'true', type: 'application/json' }],
    ['body no type', { body: V }],
    ['body text/plain', { body: V, type: 'text/plain' }],
    ['body form type', { body: 'payment_method=CASH', type: 'application/x-www-form-urlencoded' }],
    ['body multipart type', { body: V, type: 'multipart/form-data; boundary=x' }],
    ['body json suffix type', { body: V, type: 'application/vnd.api+json' }],
    ['body json-patch type', { body: V, type: 'application/json-patch+json' }],
    ['body text/json type', { body: V, type: 'text/json' }],
    ['body bad type', { body: V, type: 'json' }],
    ['body upper-case type', { body: V, type: 'APPLICATION/JSON' }],
    ['body charset utf-8', { body: V, type: 'application/json; charset=utf-8' }],
    ['body charset UTF-8', { body: V, type: 'application/json;charset=UTF-8' }],
    ['body charset quoted', { body: V, type: 'application/json; charset="utf-8"' }],
    ['body charset latin1', { body: V, type: 'application/json; charset=latin1' }],
    ['body charset iso-8859-1', { body: V, type: 'application/json; charset=iso-8859-1' }],
    ['body charset utf8', { body: V, type: 'application/json; charset=utf8' }],
    ['body other parameter', { body: V, type: 'application/json; foo=bar' }],
    ['body type with blanks', { body: V, type: '  application/json  ; charset=utf-8' }],
    ['body chunked', { body: `${(V.length).toString(16)}\r\n${V}\r\n0\r\n\r\n`, type: 'application/json', headers: [['Transfer-Encoding', 'chunked']] }],
    ['body chunked in pieces', { body: `5\r\n${V.slice(0, 5)}\r\n${(V.length - 5).toString(16)}\r\n${V.slice(5)}\r\n0\r\n\r\n`, type: 'application/json', headers: [['Transfer-Encoding', 'chunked']] }],
    ['body chunked empty', { body: '0\r\n\r\n', type: 'application/json', headers: [['Transfer-Encoding', 'chunked']] }],
    ['body utf-8 note', { body: JSON.stringify(order([{ product_id: 2, qty: 1 }], { note: 'pedas 🌶, tanpa bawang – ñ' })), type: 'application/json' }],
    ['body escaped note', { body: '{"payment_method":"CASH","items":[{"product_id":2,"qty":1}],"note":"\\u0041\\n\\t\\"\\\\\\/ \\ud83c\\udf36"}', type: 'application/json' }],
    ['body content-encoding identity', { body: V, type: 'application/json', headers: [['Content-Encoding', 'identity']] }],
    ['body content-encoding unknown', { body: V, type: 'application/json', headers: [['Content-Encoding', 'x-custom']] }],
    ['body exactly the limit', { body: `{"payment_method":"BAD"${' '.repeat(65536 - 25)}}`, type: 'application/json' }],
    ['body one over the limit', { body: `{"payment_method":"BAD"${' '.repeat(65536 - 24)}}`, type: 'application/json' }],
    ['body huge', { body: JSON.stringify(order([{ product_id: 1, qty: 1 }], { note: 'x'.repeat(200 * 1024) })), type: 'application/json' }],
    ['body deep nesting', { body: `{"payment_method":"CASH","items":${'['.repeat(500)}${']'.repeat(500)}}`, type: 'application/json' }],
  ];
  for (const [name, c] of bodyCases) {
    add(name, { method: 'POST', path: '/api/v1/orders', as: 'kasir3', ...c });
  }
  // JSON text exactly as JSON.parse reads it (cJSON alone is laxer, and C strings end at NUL)
  const N = (note) => `{"payment_method":"CASH","items":[{"product_id":2,"qty":1}],"note":${note}}`;
  const P = (pid, qty = '1') => `{"payment_method":"CASH","items":[{"product_id":${pid},"qty":${qty}}]}`;
  const bytes = (...parts) => Buffer.concat(parts.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x, 'latin1'))));
  const jsonCases = [
    ['json lone high surrogate', N('"a\\ud800b"')],
    ['json lone low surrogate', N('"a\\udc00b"')],
    ['json high surrogate at the end', N('"a\\uD83C"')],
    ['json two high surrogates', N('"\\ud83c\\ud83c\\udf36"')],
    ['json surrogate pair', N('"a\\ud83c\\udf36b"')],
    ['json NUL escape', N('"ab\\u0000cd"')],
    ['json NUL only', N('"\\u0000"')],
    ['json raw newline in a string', N('"a\nb"')],
    ['json raw tab in a string', N('"a\tb"')],
    ['json raw DEL in a string', N('"a\x7fb"')],
    ['json bad escape', N('"a\\qb"')],
    ['json short unicode escape', N('"a\\u12"')],
    ['json leading zero', P('01')],
    ['json negative leading zero', P('-01')],
    ['json trailing dot', P('1.')],
    ['json dot exponent', P('1.e0')],
    ['json leading dot', P('.5')],
    ['json plus sign', P('+1')],
    ['json bare minus', P('-')],
    ['json exponent without digits', P('1e')],
    ['json hex number', P('0x1')],
    ['json NaN', P('NaN')],
    ['json Infinity', P('Infinity')],
    ['json minus zero product', P('-0')],
    ['json minus zero qty', P('1', '-0')],
    ['json zero with exponent', P('1', '0e5')],
    ['json long integral number', P('1', `2.${'0'.repeat(70)}`)],
    ['json long number', P('1', `2.${'0'.repeat(70)}1`)],
    ['json huge number', P('1', `1${'0'.repeat(400)}`)],
    ['json product 2^53+1', P('9007199254740993')],
    ['json product 1e16', P('10000000000000000')],
    ['json product 1e21', P('1e21')],
    ['json product 0.1', P('0.1')],
    ['json product 1.5e-7', P('1.5e-7')],
    ['json product 123456.789', P('123456.789')],
    ['json product negative exponent', P('-2.5E+30')],
    ['json product array of numbers', P('[1,2.50,-0]')],
    ['json product object', P('{"a":"\\u00e9\\n","b":[true,null]}')],
    ['json form feed as a blank', `{\f${P('1').slice(1)}`],
    ['json vertical tab as a blank', `{\v${P('1').slice(1)}`],
    ['json NUL as a blank', `{\u0000${P('1').slice(1)}`],
    ['json single quotes', '{\'payment_method\':\'CASH\'}'],
    ['json trailing comma in object', '{"payment_method":"CASH","items":[{"product_id":1,"qty":1}],}'],
    ['json trailing comma in array', '{"payment_method":"CASH","items":[{"product_id":1,"qty":1},]}'],
    ['json missing colon', '{"payment_method" "CASH"}'],
    ['json unquoted key', '{payment_method:"CASH"}'],
    ['json comment', `${P('1')} // x`],
    ['json bare literal', '{"payment_method":"CASH","items":[{"product_id":1,"qty":1}],"note":nul}'],
    ['json unclosed string', '{"payment_method":"CASH'],
    ['json nesting 900', `{"payment_method":"CASH","items":${'['.repeat(900)}${']'.repeat(900)}}`],
    ['json BOM', bytes('\xEF\xBB\xBF', P('1'))],
    ['json BOM only', bytes('\xEF\xBB\xBF')],
    ['json two BOMs', bytes('\xEF\xBB\xBF\xEF\xBB\xBF', P('1'))],
    ['json latin-1 byte', bytes(N('"caf\xe9"'))],
    ['json truncated 3-byte sequence', bytes(N('"a\xe2\x82b"'))],
    ['json truncated 4-byte sequence', bytes(N('"a\xf0\x9f\x8cb"'))],
    ['json lone continuation byte', bytes(N('"a\x80\x80b"'))],
    ['json encoded surrogate', bytes(N('"a\xed\xa0\x80b"'))],
    ['json overlong NUL', bytes(N('"a\xc0\x80b"'))],
    ['json overlong slash', bytes(N('"a\xe0\x80\xafb"'))],
    ['json beyond U+10FFFF', bytes(N('"a\xf4\x90\x80\x80b"'))],
    ['json invalid byte outside a string', bytes('{\xff', P('1').slice(1))],
    ['json invalid byte at the end', bytes(N('"ab"'), '\xe2')],
    ['json note 499 and NUL', N(`"${'n'.repeat(499)}\\u0000"`)],
    ['json note 500 and NUL', N(`"${'n'.repeat(500)}\\u0000"`)],
    ['json note 499 and a lone surrogate', N(`"${'n'.repeat(499)}\\udfff"`)],
    ['json note 500 and a lone surrogate', N(`"${'n'.repeat(500)}\\udfff"`)],
    ['json note blanks around NUL', N('" \\u0000 "')],
  ];
  for (const [name, body] of jsonCases) add(name, { method: 'POST', path: '/api/v1/orders', as: 'kasir3', type: 'application/json', body });
  post('json category NUL', '/api/v1/categories', 'admin', { name: 'Y\u0000Z' }, { save: saveJson('catNul') });
  post('json category NUL again', '/api/v1/categories', 'admin', { name: 'Y\u0000Z' });
  post('json category NUL prefix', '/api/v1/categories', 'admin', { name: 'Y' });
  add('json category lone surrogate', { method: 'POST', path: '/api/v1/categories', as: 'admin', type: 'application/json', body: '{"name":"X\\ud800"}' });
  add('json category invalid UTF-8', { method: 'POST', path: '/api/v1/categories', as: 'admin', type: 'application/json', body: bytes('{"name":"W\xff"}') });
  add('json product in the NUL category', { method: 'POST', path: '/api/v1/products', as: 'admin',
    json: (ctx) => ({ name: 'Nul\u0000Drink', price: 100, category_id: ctx.v.catNul?.id }), save: saveJson('pNul') });
  post('json order with the NUL product', '/api/v1/orders', 'kasir3', (ctx) => order([{ product_id: ctx.v.pNul?.id, qty: 1 }], { note: 'x\u0000y' }));
  add('json category duplicate keys', { method: 'POST', path: '/api/v1/categories', as: 'admin', type: 'application/json', body: '{"name":"status","sort_order":1,"name":"DUPKEY"}' });
  add('json product duplicate keys', { method: 'POST', path: '/api/v1/products', as: 'admin', type: 'application/json', body: '{"name":"Dup","price":-1,"category_id":1,"price":1}' });
  add('json patch duplicate keys', { method: 'PATCH', path: '/api/v1/products/5', as: 'admin', type: 'application/json', body: '{"active":"x","price":1000,"active":true}' });
  add('json status duplicate keys', { method: 'PATCH', path: '/api/v1/orders/INV-X/status', as: 'dapur1', type: 'application/json', body: '{"status":"cancelled","status":"ready"}' });
  add('json login duplicate keys', { method: 'POST', path: '/api/v1/auth/login', type: 'application/json', body: '{"username":"nobody","password":"x","username":""}' });

  add('login body huge', { method: 'POST', path: '/api/v1/auth/login', type: 'application/json',
    body: JSON.stringify({ username: 'x'.repeat(70000), password: 'y' }) });

  // --- orders: creation and rendering (kasir1 outlet 1, kasir2 outlet 2, admin -> outlet 1) -----
  post('create simple', '/api/v1/orders', 'kasir1', ORDER, { save: saveJson('o1') });
  post('create seed example', '/api/v1/orders', 'kasir1',
    order([{ product_id: 1, qty: 1 }, { product_id: 3, qty: 1 }, { product_id: 5, qty: 1 }, { product_id: 6, qty: 1 }, { product_id: 7, qty: 1 }]),
    { save: saveJson('o2') });
  post('create merged lines', '/api/v1/orders', 'kasir1',
    order([{ product_id: 5, qty: 1 }, { product_id: 1, qty: 2 }, { product_id: 5, qty: 3 }, { product_id: 2, qty: 1 }, { product_id: 1, qty: 1 }]));
  post('create with note', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 2 }], { note: '  no onion  ' }));
  post('create blank note', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 1 }], { note: ' \t ' }));
  post('create null note', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 1 }], { note: null }));
  post('create unicode-blank note', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 1 }], { note: '\u00a0\u3000pedas\ufeff\u2028' }));
  post('create note 500', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 1 }], { note: 'n'.repeat(500) }));
  post('create note 250 emoji', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 1 }], { note: '🌶'.repeat(250) }));
  post('create new category first', '/api/v1/orders', 'kasir1', (ctx) => order([{ product_id: 1, qty: 1 }, { product_id: ctx.v.pEsTeh?.id, qty: 2 }, { product_id: 8, qty: 1 }]));
  post('create odd category', '/api/v1/orders', 'kasir1', (ctx) => order([{ product_id: ctx.v.pOdd?.id, qty: 3 }, { product_id: ctx.v.pKeju?.id, qty: 1 }]));
  post('create 200 items', '/api/v1/orders', 'kasir1', order(Array.from({ length: 200 }, (_, i) => ({ product_id: 1 + (i % 3), qty: 999 }))));
  post('create qty 999', '/api/v1/orders', 'kasir1', order([{ product_id: 7, qty: 999 }]));
  post('create float-looking integers', '/api/v1/orders', 'kasir1', order([{ product_id: 1.0, qty: 2.0 }]));
  add('create exponent integers', { method: 'POST', path: '/api/v1/orders', as: 'kasir1', type: 'application/json',
    body: '{"payment_method":"CASH","items":[{"product_id":1e0,"qty":2E1}]}' });
  post('create extra keys ignored', '/api/v1/orders', 'kasir1', order([{ product_id: 1, qty: 1, price: 1, name: 'x' }], { total_amount: 1, status: 'completed', outlet_id: 9 }));
  for (const pm of ['QRIS', 'CARD', 'TRANSFER', 'EWALLET']) {
    post(`create ${pm}`, '/api/v1/orders', 'kasir1', order([{ product_id: 6, qty: 1 }], { payment_method: pm }));
  }
  post('create free product', '/api/v1/orders', 'kasir1', (ctx) => order([{ product_id: ctx.v.pFree?.id, qty: 1 }]));
  post('create as admin', '/api/v1/orders', 'admin', ORDER, { save: saveJson('oAdmin') });
  post('create outlet 2', '/api/v1/orders', 'kasir2', ORDER, { save: saveJson('oOutlet2') });
  post('create with a session token', '/api/v1/orders', 's_kasir1', order([{ product_id: 3, qty: 4 }]));
  patch('rename after order', '/api/v1/products/1', 'admin', { name: 'Corndog Sosis Jumbo', price: 7000 });
  get('old order keeps its snapshot', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}`, 'kasir1');
  post('create after rename', '/api/v1/orders', 'kasir1', ORDER, { save: saveJson('o3') });
  patch('reactivate product', '/api/v1/products/4', 'admin', { active: true });
  post('create reactivated product', '/api/v1/orders', 'kasir1', order([{ product_id: 4, qty: 2 }]));

  // --- reads ------------------------------------------------------------------------------------------
  get('read order kitchen', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}`, 'dapur1');
  get('read order admin', (ctx) => `/api/v1/orders/${inv('o2')(ctx)}`, 'admin');
  add('read order HEAD', { method: 'HEAD', path: (ctx) => `/api/v1/orders/${inv('o2')(ctx)}`, as: 'admin' });
  get('read admin order from outlet 1', (ctx) => `/api/v1/orders/${inv('oAdmin')(ctx)}`, 'kasir1');
  get('read other outlet', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}`, 'kasir2');
  get('read other outlet kitchen', (ctx) => `/api/v1/orders/${inv('oOutlet2')(ctx)}`, 'dapur1');
  get('read outlet 2 own', (ctx) => `/api/v1/orders/${inv('oOutlet2')(ctx)}`, 'dapur2');
  get('read unknown', '/api/v1/orders/INV-20000101-0001', 'admin');
  get('read garbage invoice', '/api/v1/orders/hello', 'admin');
  get('read lower-case invoice', (ctx) => `/api/v1/orders/${inv('o1')(ctx).toLowerCase()}`, 'admin');
  get('read encoded invoice', (ctx) => `/api/v1/orders/${inv('o1')(ctx).replace('-', '%2D')}`, 'admin');
  get('read encoded blank', '/api/v1/orders/%20', 'admin');
  get('read trailing slash', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}/`, 'admin');
  get('read NUL in the invoice', '/api/v1/orders/INV%00X', 'admin');
  get('read real invoice then NUL', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}%00`, 'admin');
  get('read real invoice then NUL and more', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}%00junk`, 'admin');
  get('read encoded slash', '/api/v1/orders/a%2Fb', 'admin');
  get('read encoded UTF-8', '/api/v1/orders/%C3%A9t%C3%A9', 'admin');
  get('read fragment', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}#top`, 'admin');
  add('status NUL in the invoice', { method: 'PATCH', path: (ctx) => `/api/v1/orders/${inv('o1')(ctx)}%00/status`, as: 'admin', json: { status: 'ready' } });
  add('void NUL in the invoice', { method: 'DELETE', path: (ctx) => `/api/v1/orders/${inv('o1')(ctx)}%00`, as: 'admin' });
  patch('patch product NUL in the id', '/api/v1/products/1%00', 'admin', { price: 1 });
  patch('patch product encoded UTF-8 id', '/api/v1/products/%C3%A9', 'admin', { price: 1 });
  get('read with a body', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}`, 'admin', { body: '{"x":1}', type: 'application/json' });
  get('read with two Authorization headers', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}`, undefined,
    { headers: (ctx) => [['Authorization', `Bearer ${ctx.tokens.admin}`], ['Authorization', 'Bearer nope']] });
  post('create with Expect: 100-continue', '/api/v1/orders', 'kasir1', order([{ product_id: 6, qty: 2 }]), { headers: [['Expect', '100-continue']] });
  add('create with two Content-Types', { method: 'POST', path: '/api/v1/orders', as: 'kasir1', body: JSON.stringify(order([{ product_id: 6, qty: 3 }])),
    headers: [['Content-Type', 'application/json'], ['Content-Type', 'text/plain']] });
  add('create with two identity encodings', { method: 'POST', path: '/api/v1/orders', as: 'kasir1', json: order([{ product_id: 6, qty: 4 }]),
    headers: [['Content-Encoding', 'identity'], ['Content-Encoding', 'identity']] });
  get('read unauthenticated', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}`);
  get('read revoked', (ctx) => `/api/v1/orders/${inv('o1')(ctx)}`, 's_dapur1');

  // --- idempotency keys (kasir1) --------------------------------------------------------------------
  const IB = order([{ product_id: 2, qty: 2 }, { product_id: 7, qty: 1 }], { note: 'idem' });
  const IBreordered = { note: 'idem', items: [{ qty: 2, product_id: 2 }, { qty: 1, product_id: 7 }], payment_method: 'CASH' };
  const key = (k) => ({ headers: [['Idempotency-Key', k]] });
  post('idem first', '/api/v1/orders', 'kasir1', IB, { ...key('pos-1-0001'), save: saveJson('oIdem') });
  post('idem replay', '/api/v1/orders', 'kasir1', IB, key('pos-1-0001'));
  post('idem replay reordered keys', '/api/v1/orders', 'kasir1', IBreordered, key('pos-1-0001'));
  add('idem replay other whitespace', { method: 'POST', path: '/api/v1/orders', as: 'kasir1', type: 'application/json',
    body: ` { "payment_method" : "CASH", "items" : [ {"product_id":2,"qty":2}, {"product_id":7,"qty":1} ], "note":"idem" } `, ...key('pos-1-0001') });
  post('idem different body', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 3 }]), key('pos-1-0001'));
  post('idem reordered items differ', '/api/v1/orders', 'kasir1', { ...IB, items: [IB.items[1], IB.items[0]] }, key('pos-1-0001'));
  post('idem extra key differs', '/api/v1/orders', 'kasir1', { ...IB, table: 5 }, key('pos-1-0001'));
  post('idem replay with bad body', '/api/v1/orders', 'kasir1', { payment_method: 'NOPE' }, key('pos-1-0001'));
  post('idem other user same key', '/api/v1/orders', 'kasir2', IB, key('pos-1-0001'));
  post('idem key case matters', '/api/v1/orders', 'kasir1', IB, key('POS-1-0001'));
  post('idem key 255', '/api/v1/orders', 'kasir1', IB, key('k'.repeat(255)));
  post('idem key 255 replay', '/api/v1/orders', 'kasir1', IB, key('k'.repeat(255)));
  post('idem key 256', '/api/v1/orders', 'kasir1', IB, key('k'.repeat(256)));
  post('idem key empty', '/api/v1/orders', 'kasir1', IB, key(''));
  post('idem key blanks', '/api/v1/orders', 'kasir1', IB, key('a b  c'));
  post('idem invalid body new key', '/api/v1/orders', 'kasir1', order([{ product_id: 2, qty: 0 }]), key('pos-1-0002'));
  post('idem valid body after 422', '/api/v1/orders', 'kasir1', IB, { ...key('pos-1-0002'), save: saveJson('oIdem2') });
  post('idem key 256 bad body', '/api/v1/orders', 'kasir1', { payment_method: 'X' }, key('k'.repeat(256)));
  add('idem key, bad JSON', { method: 'POST', path: '/api/v1/orders', as: 'kasir1', body: '{', type: 'application/json', ...key('pos-1-0003') });
  post('idem key on a category', '/api/v1/categories', 'admin', { name: 'IDEM' }, key('pos-1-0001'));
  patch('idem order to preparing', (ctx) => `/api/v1/orders/${inv('oIdem')(ctx)}/status`, 'dapur1', { status: 'preparing' });
  post('idem replay shows it now', '/api/v1/orders', 'kasir1', IB, key('pos-1-0001'));
  add('idem void', { method: 'DELETE', path: (ctx) => `/api/v1/orders/${inv('oIdem')(ctx)}`, as: 'admin' });
  post('idem replay after void', '/api/v1/orders', 'kasir1', IB, key('pos-1-0001'));
  post('idem next number', '/api/v1/orders', 'kasir1', order([{ product_id: 3, qty: 1 }]));
  const NB = order([{ product_id: 3, qty: 1 }], { note: 'n\u0000b' });
  post('idem NUL body', '/api/v1/orders', 'kasir1', NB, key('pos-1-nul'));
  post('idem NUL body replay', '/api/v1/orders', 'kasir1', NB, key('pos-1-nul'));
  post('idem NUL body differs', '/api/v1/orders', 'kasir1', { ...NB, note: 'n\ufffdb' }, key('pos-1-nul'));
  post('idem key twice', '/api/v1/orders', 'kasir1', IB, { headers: [['Idempotency-Key', 'dup-1'], ['Idempotency-Key', 'dup-1']] });
  post('idem key twice, joined', '/api/v1/orders', 'kasir1', IB, key('dup-1, dup-1'));
  post('idem key twice, first only', '/api/v1/orders', 'kasir1', IB, key('dup-1'));
  post('idem keys joined too long', '/api/v1/orders', 'kasir1', IB, { headers: [['Idempotency-Key', 'k'.repeat(200)], ['Idempotency-Key', 'k'.repeat(60)]] });

  // --- status transitions: every from -> to, for each role ----------------------------------------
  // Orders are created by kasir4 (outlet 1) and driven to `from` by the admin.
  const drive = { new: [], preparing: ['preparing'], ready: ['preparing', 'ready'],
    completed: ['preparing', 'ready', 'completed'], cancelled: ['cancelled'] };
  for (const as of ['dapur1', 'kasir1', 'admin']) {
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        const k = `t_${as}_${from}_${to}`;
        post(`${k} create`, '/api/v1/orders', 'kasir4', order([{ product_id: 5, qty: 1 }]), { save: saveJson(k) });
        for (const s of drive[from]) patch(`${k} drive ${s}`, (ctx) => `/api/v1/orders/${inv(k)(ctx)}/status`, 'admin', { status: s });
        patch(`${k} patch`, (ctx) => `/api/v1/orders/${inv(k)(ctx)}/status`, as, { status: to });
      }
    }
  }
  const T = (ctx) => `/api/v1/orders/${inv('o2')(ctx)}/status`;
  patch('status missing', T, 'dapur1', {});
  patch('status empty', T, 'dapur1', { status: '' });
  patch('status upper-case', T, 'dapur1', { status: 'READY' });
  patch('status unknown', T, 'dapur1', { status: 'served' });
  patch('status number', T, 'dapur1', { status: 2 });
  patch('status null', T, 'dapur1', { status: null });
  patch('status array', T, 'dapur1', { status: ['ready'] });
  patch('status long string', T, 'dapur1', { status: 'preparing'.repeat(10) });
  patch('status unknown, unknown order', '/api/v1/orders/INV-X/status', 'kasir1', { status: 'x' });
  patch('status forbidden, unknown order', '/api/v1/orders/INV-X/status', 'dapur1', { status: 'cancelled' });
  patch('status allowed, unknown order', '/api/v1/orders/INV-X/status', 'dapur1', { status: 'ready' });
  patch('status other outlet kitchen', T, 'dapur2', { status: 'preparing' });
  patch('status other outlet cashier', T, 'kasir2', { status: 'cancelled' });
  patch('status unauthenticated', T, undefined, { status: 'ready' });
  patch('status revoked token', T, 's_dapur1', { status: 'ready' });
  add('status no body', { method: 'PATCH', path: T, as: 'dapur1' });
  add('status bad JSON', { method: 'PATCH', path: T, as: 'dapur1', body: 'ready', type: 'application/json' });
  add('status text body', { method: 'PATCH', path: T, as: 'dapur1', body: 'ready', type: 'text/plain' });
  add('status array body', { method: 'PATCH', path: T, as: 'dapur1', body: '["ready"]', type: 'application/json' });
  patch('status extra keys', T, 'dapur1', { status: 'preparing', invoice_number: 'INV-X', outlet_id: 2 });
  patch('status same again', T, 'dapur1', { status: 'preparing' });
  patch('status outlet 2 own', (ctx) => `/api/v1/orders/${inv('oOutlet2')(ctx)}/status`, 'dapur2', { status: 'ready' });
  patch('status admin order by kitchen 1', (ctx) => `/api/v1/orders/${inv('oAdmin')(ctx)}/status`, 'dapur1', { status: 'ready' });

  // --- voids ---------------------------------------------------------------------------------------------
  const D = (ctx) => `/api/v1/orders/${inv('o3')(ctx)}`;
  add('void as cashier', { method: 'DELETE', path: D, as: 'kasir1' });
  add('void as kitchen', { method: 'DELETE', path: D, as: 'dapur1' });
  add('void unauthenticated', { method: 'DELETE', path: D });
  add('void unknown as kitchen', { method: 'DELETE', path: '/api/v1/orders/INV-X', as: 'dapur1' });
  add('void unknown', { method: 'DELETE', path: '/api/v1/orders/INV-X', as: 'admin' });
  add('void with a body', { method: 'DELETE', path: D, as: 'admin', body: 'whatever', type: 'text/plain' });
  add('void again', { method: 'DELETE', path: D, as: 'admin' });
  get('read voided', D, 'admin');
  patch('status of voided', (ctx) => `${D(ctx)}/status`, 'admin', { status: 'ready' });
  add('void outlet 2 order', { method: 'DELETE', path: (ctx) => `/api/v1/orders/${inv('oOutlet2')(ctx)}`, as: 'admin' });
  post('create after voids', '/api/v1/orders', 'kasir2', order([{ product_id: 2, qty: 1 }]), { save: saveJson('oLast2') });

  // --- listings --------------------------------------------------------------------------------------------
  const L = '/api/v1/orders';
  const lists = [
    ['list default kitchen 1', '', 'dapur1'],
    ['list default admin', '', 'admin'],
    ['list outlet 2', '', 'kasir2'],
    ['list outlet 2 kitchen', '', 'dapur2'],
    ['list outlet 3', '', 'burst'],
    ['list status new', '?status=new', 'admin'],
    ['list status two', '?status=new,preparing', 'dapur1'],
    ['list status blanks', '?status=%20ready%20,%20completed', 'admin'],
    ['list status plus', '?status=ready+,+completed', 'admin'],
    ['list status empty entries', '?status=new,,ready,', 'admin'],
    ['list status repeated', '?status=new&status=cancelled', 'admin'],
    ['list status all', '?status=new,preparing,ready,completed,cancelled&limit=5', 'admin'],
    ['list status unknown', '?status=bogus', 'admin'],
    ['list status one unknown', '?status=new,bogus', 'admin'],
    ['list status empty', '?status=', 'admin'],
    ['list status commas', '?status=,,', 'admin'],
    ['list status bare', '?status', 'admin'],
    ['list status upper-case', '?status=NEW', 'admin'],
    ['list status encoded comma', '?status=new%2Cready', 'admin'],
    ['list limit 0', '?limit=0', 'admin'],
    ['list limit 1', '?limit=1', 'admin'],
    ['list limit 2', '?limit=2', 'kasir1'],
    ['list limit 1000', '?limit=1000', 'admin'],
    ['list limit 1001', '?limit=1001', 'admin'],
    ['list limit huge', '?limit=99999999999999999999', 'dapur2'],
    ['list limit abc', '?limit=abc', 'admin'],
    ['list limit -1', '?limit=-1', 'admin'],
    ['list limit 1.5', '?limit=1.5', 'admin'],
    ['list limit empty', '?limit=', 'admin'],
    ['list limit blank', '?limit=%201', 'admin'],
    ['list limit plus', '?limit=+1', 'admin'],
    ['list limit leading zeros', '?limit=003', 'admin'],
    ['list limit 1e3', '?limit=1e3', 'admin'],
    ['list limit repeated', '?limit=1&limit=2', 'admin'],
    ['list date today', (ctx) => `?date=${ctx.today}`, 'admin'],
    ['list date other day', '?date=2000-01-01', 'admin'],
    ['list date impossible', '?date=2024-13-45', 'admin'],
    ['list date short', '?date=2024-1-01', 'admin'],
    ['list date words', '?date=today', 'admin'],
    ['list date compact', '?date=20240101', 'admin'],
    ['list date empty', '?date=', 'admin'],
    ['list date with time', (ctx) => `?date=${ctx.today}T00:00`, 'admin'],
    ['list before unknown', '?before=INV-20000101-0001', 'admin'],
    ['list before garbage', '?before=nope', 'admin'],
    ['list before empty', '?before=', 'admin'],
    ['list before valid', (ctx) => `?before=${inv('o2')(ctx)}`, 'admin'],
    ['list before newest, limit 3', (ctx) => `?before=${inv('oLast2')(ctx)}&limit=3`, 'admin'],
    ['list before voided', (ctx) => `?before=${inv('o3')(ctx)}&limit=2`, 'admin'],
    ['list before other outlet', (ctx) => `?before=${inv('oLast2')(ctx)}&limit=2`, 'dapur1'],
    ['list before first', (ctx) => `?before=${inv('o1')(ctx)}`, 'admin'],
    ['list all filters', (ctx) => `?status=new,ready&date=${ctx.today}&limit=4&before=${inv('oLast2')(ctx)}`, 'dapur1'],
    ['list filters bad status and limit', '?status=x&limit=0', 'admin'],
    ['list filters bad date and limit', '?date=x&limit=x', 'admin'],
    ['list filters bad limit and before', '?limit=x&before=nope', 'admin'],
    ['list filters bad before and status', '?before=nope&status=nope', 'admin'],
    ['list unknown parameter', '?colour=red&limit=1', 'admin'],
    ['list array-looking parameter', '?status[]=new&limit=1', 'admin'],
    ['list encoded key', '?%73tatus=new&limit=2', 'admin'],
    ['list unauthenticated', '', undefined],
    ['list limit with fragment', '?limit=2#x', 'admin'],
    ['list limit and empty repeat', '?limit=1&limit=', 'admin'],
    ['list status and empty repeat', '?status=new&status=', 'admin'],
    ['list status with NUL', '?status=new%00', 'admin'],
    ['list limit with NUL', '?limit=1%00', 'admin'],
    ['list date with NUL', (ctx) => `?date=${ctx.today}%00`, 'admin'],
    ['list before with NUL', (ctx) => `?before=${inv('o2')(ctx)}%00`, 'admin'],
    ['list before latin-1 byte', '?before=%FF', 'admin'],
    ['list before truncated UTF-8', '?before=%E2%82', 'admin'],
    ['list before overlong NUL', '?before=%C0%80', 'admin'],
    ['list before UTF-8', '?before=%C3%A9', 'admin'],
    ['list before bad escape', '?before=%zz', 'admin'],
    ['list empty key', '?=1&limit=1', 'admin'],
    ['list double ampersand', '?limit=1&&status=new', 'admin'],
  ];
  for (const [name, q, as] of lists) get(name, (ctx) => `${L}${typeof q === 'function' ? q(ctx) : q}`, as);
  add('list HEAD', { method: 'HEAD', path: `${L}?limit=3`, as: 'admin' });

  // --- rate limits -------------------------------------------------------------------------------------------
  // Orders: every attempt counts (also refused ones); `burst` posts ORDER_RATE, then 429.
  for (let i = 0; i < ORDER_RATE; i++) {
    post(`burst ${i + 1}`, '/api/v1/orders', 'burst', i % 10 === 0 ? order([{ product_id: 2, qty: 1 }]) : { payment_method: 'NOPE' });
  }
  post('burst over the rate', '/api/v1/orders', 'burst', ORDER);
  post('burst over the rate, bad body', '/api/v1/orders', 'burst', {});
  post('burst over the rate, replay', '/api/v1/orders', 'burst', ORDER, key('b-1'));
  get('burst may still read', L, 'burst');
  post('others are not limited', '/api/v1/orders', 'kasir2', ORDER);
  // Logins: 10 failures a minute per address (4 above), then 429 even with the right password.
  for (let i = 5; i <= 10; i++) post(`login failure ${i}`, '/api/v1/auth/login', undefined, { username: 'admin', password: `wrong-${i}` });
  post('login limited', '/api/v1/auth/login', undefined, { username: 'admin', password: 'wrong-11' });
  post('login limited, right password', '/api/v1/auth/login', undefined, { username: 'admin', password: 'admin-secret' });
  post('login limited, bad body', '/api/v1/auth/login', undefined, { username: '' });
  add('login limited, not JSON', { method: 'POST', path: '/api/v1/auth/login', body: '{', type: 'application/json' });
  get('tokens still work while limited', '/api/v1/categories', 'admin');

  // --- where the reference goes against SPEC (see DIVERGENCES); last, as they change state -----
  for (const k of ['order_type', 'table', 'customer_name', 'rush', 'done_lines']) {
    post(`category reserved (SPEC 10) ${k}`, '/api/v1/categories', 'admin', { name: k });
  }
  for (const [name, p] of [['bad escape %FF', '%FF'], ['bad escape %E2%82', '%E2%82'], ['bad escape %zz', '%zz'], ['bad escape %', '%']]) {
    get(`read ${name}`, `/api/v1/orders/${p}`, 'admin');
  }
  patch('patch product bad escape', '/api/v1/products/%FF', 'admin', { price: 1 });
  add('void bad escape', { method: 'DELETE', path: '/api/v1/orders/%FF', as: 'admin' });
  add('metrics POST', { method: 'POST', path: '/metrics' });
  add('json nesting 1001', { method: 'POST', path: '/api/v1/orders', as: 'kasir3', type: 'application/json',
    body: `{"payment_method":"CASH","items":${'['.repeat(1001)}${']'.repeat(1001)}}` });
  post('category sort_order 2^53', '/api/v1/categories', 'admin', { name: 'BIG1', sort_order: 2 ** 53 });
  post('category sort_order 1e300', '/api/v1/categories', 'admin', { name: 'BIG2', sort_order: 1e300 });
  post('product price 2^53', '/api/v1/products', 'admin', { name: 'Gold', price: 2 ** 53, category_id: 1 });
  post('product price 1e20', '/api/v1/products', 'admin', { name: 'Gold 2', price: 1e20, category_id: 1 });
  patch('patch product price 1e20', '/api/v1/products/6', 'admin', { price: 1e20 });
  add('body gzip', { method: 'POST', path: '/api/v1/orders', as: 'kasir3', type: 'application/json',
    headers: [['Content-Encoding', 'gzip']], body: zlib.gzipSync(JSON.stringify(order([{ product_id: 2, qty: 1 }], { note: 'gz' }))) });
  add('body deflate', { method: 'POST', path: '/api/v1/orders', as: 'kasir3', type: 'application/json',
    headers: [['Content-Encoding', 'deflate']], body: zlib.deflateSync(JSON.stringify(order([{ product_id: 2, qty: 1 }], { note: 'df' }))) });
  add('body charset utf-16le', { method: 'POST', path: '/api/v1/orders', as: 'kasir3', type: 'application/json; charset=utf-16le',
    body: Buffer.from(JSON.stringify(order([{ product_id: 2, qty: 1 }], { note: 'u16' })), 'utf16le') });

  for (const [u, n] of Object.entries(posts)) {
    if (u !== 'burst' && n >= ORDER_RATE) throw new Error(`the script posts ${n} orders as ${u}: over --order-rate`);
  }
  return steps;
}

// ---- deliberate differences -------------------------------------------------------------------

// Steps where we keep our behaviour on purpose: the reference contradicts SPEC, fails on bad
// input, or does what our fixed libraries cannot (each says why). Each side is checked
// against what it must answer, instead of against the other.
const DIVERGENCES = {};
for (const k of ['order_type', 'table', 'customer_name', 'rush', 'done_lines']) {
  DIVERGENCES[`category reserved (SPEC 10) ${k}`] = {
    why: 'SPEC 2 reserves the section-10 keys (order_type, table, customer_name, rush, done_lines) now: ' +
      'a category named like one is refused with 422; the reference only reserves the keys it renders',
    c: { status: 422, code: 'validation_failed', field: 'name' },
    node: { status: 201 },
  };
}

const BAD_ESCAPE = {
  why: 'an invalid percent-escape in the path: the reference fails decodeURIComponent and answers 500 ' +
    'internal_error (a server failure for bad input, against SPEC 3/8); ours keeps the bytes (invalid UTF-8 ' +
    'shown as U+FFFD) and answers as for any unknown order or product',
  node: { status: 500, code: 'internal_error' },
};
for (const name of ['bad escape %FF', 'bad escape %E2%82', 'bad escape %zz', 'bad escape %']) {
  DIVERGENCES[`read ${name}`] = { ...BAD_ESCAPE, c: { status: 404, code: 'not_found' } };
}
DIVERGENCES['void bad escape'] = { ...BAD_ESCAPE, c: { status: 404, code: 'not_found' } };
DIVERGENCES['patch product bad escape'] = { ...BAD_ESCAPE, c: { status: 404, code: 'not_found' } };
DIVERGENCES['metrics POST'] = {
  why: 'as for POST /healthz: SPEC 11.19 wants 405 with Allow on a known path',
  c: { status: 405, code: 'method_not_allowed', allow: 'GET' },
  node: { status: 404, code: 'not_found' },
};
DIVERGENCES['json nesting 1001'] = {
  why: 'cJSON stops at 1000 nested arrays/objects (CJSON_NESTING_LIMIT): such a body is 400 invalid_json ' +
    'for us; JSON.parse reads it and the reference then refuses the items with 422',
  c: { status: 400, code: 'invalid_json' },
  node: { status: 422, code: 'validation_failed', field: 'items[0]' },
};
for (const name of ['category sort_order 2^53', 'category sort_order 1e300']) {
  DIVERGENCES[name] = {
    why: 'an integer beyond 2^53-1 is not exact in JSON numbers (nor in SQLite past 2^63): ours refuses it ' +
      'with 422; the reference stores it (1e300 even as a float) and lists it back',
    c: { status: 422, code: 'validation_failed', field: 'sort_order' },
    node: { status: 201 },
  };
}
for (const [name, status] of [['product price 2^53', 201], ['product price 1e20', 201], ['patch product price 1e20', 200]]) {
  DIVERGENCES[name] = {
    why: 'SPEC 2: amounts are integers in Rupiah; a price beyond 2^53-1 cannot be one exactly (nor its ' +
      'subtotals): ours refuses it with 422, the reference stores it',
    c: { status: 422, code: 'validation_failed', field: 'price' },
    node: { status },
  };
}
for (const name of ['body gzip', 'body deflate']) {
  DIVERGENCES[name] = {
    why: 'a compressed request body: the reference (body-parser) inflates it; ours does not take content ' +
      'codings (no zlib among the fixed libraries) and answers 415 unsupported_media_type, as the reference ' +
      'does for codings it does not know (RFC 9110 15.5.16)',
    c: { status: 415, code: 'unsupported_media_type' },
    node: { status: 201 },
  };
}
DIVERGENCES['body charset utf-16le'] = {
  why: 'RFC 8259 8.1: JSON between systems is UTF-8; ours answers 415 for any other charset, the reference ' +
    '(body-parser) decodes the utf-* ones',
  c: { status: 415, code: 'unsupported_media_type' },
  node: { status: 201 },
};

DIVERGENCES['healthz POST'] = {
  why: 'SPEC 11.19: an unsupported method on a known path is 405 with Allow; the reference registers ' +
    '/healthz with app.get, so other methods fall through to its 404',
  c: { status: 405, code: 'method_not_allowed', allow: 'GET' },
  node: { status: 404, code: 'not_found' },
};

for (const name of ['list before other outlet', 'list all filters']) {
  DIVERGENCES[name] = {
    why: "SPEC 11.4: an outlet-bound token cannot see another outlet's orders, so `before` naming one is " +
      'as unknown as a made-up invoice (400 on before); the reference pages from it, which tells the ' +
      'caller that the invoice exists (an existence oracle)',
    c: { status: 400, code: 'invalid_query', field: 'before' },
    node: { status: 200 },
  };
}

DIVERGENCES['list date impossible'] = {
  why: 'SPEC 11.24: a date that is not a real calendar day is 400 on date; the reference checks only the ' +
    'shape and lists nothing',
  c: { status: 400, code: 'invalid_query', field: 'date' },
  node: { status: 200 },
};

// Error messages worded differently on purpose (ours at least as clear): step name -> why.
const MESSAGES = {
  'order product_id very long string': 'an error message is at most 255 bytes here: ours quotes a long ' +
    'offending value cut short with "..."; the reference quotes all 400 characters',
};

// ---- running and comparing ------------------------------------------------------------------------

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/;

/** Replaces volatile values (times, tokens, the day inside invoice numbers), keeping key order. */
function normalise(value, key) {
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v, k);
    return out;
  }
  if (typeof value !== 'string') return value;
  if ((key === 'created_at' || key === 'updated_at' || key === 'expires_at') && ISO.test(value)) return '<time>';
  if (key === 'token' && /^[A-Za-z0-9_-]{43}$/.test(value)) return '<token>';
  if (key === 'date' && /^\d{4}-\d{2}-\d{2}$/.test(value)) return '<date>';
  return value.replace(/INV-\d{8}-/g, 'INV-<day>-');
}

const mediaType = (ct) => (ct === undefined ? undefined : ct.toLowerCase().replace(/\s+/g, ''));
const allowSet = (a) => (a === undefined ? undefined : a.split(',').map((s) => s.trim()).sort().join(', '));

function decode(res) {
  const text = res.body.toString('utf8');
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { ...res, text, json };
}

/** Differences between two answers to one step: [] when they agree. */
function compare(step, c, n) {
  const out = [];
  const diff = (what, a, b) => {
    const sa = JSON.stringify(a);
    const sb = JSON.stringify(b);
    if (sa !== sb) out.push(`${what}: ours ${sa}  reference ${sb}`);
  };
  diff('status', c.status, n.status);
  diff('Content-Type', mediaType(c.headers['content-type']), mediaType(n.headers['content-type']));
  diff('Allow', allowSet(c.headers.allow), allowSet(n.headers.allow));
  diff('Idempotent-Replayed', c.headers['idempotent-replayed'], n.headers['idempotent-replayed']);
  for (const h of ['access-control-allow-origin', 'access-control-expose-headers', 'access-control-allow-methods',
    'access-control-allow-headers', 'access-control-max-age', 'vary']) {
    diff(h, c.headers[h], n.headers[h]);
  }
  const ra = [c.headers['retry-after'], n.headers['retry-after']];
  if ((ra[0] === undefined) !== (ra[1] === undefined)) {
    diff('Retry-After', ra[0], ra[1]);
  } else if (ra[0] !== undefined) {
    const [a, b] = ra.map(Number);
    if (!(Number.isInteger(a) && a >= 1 && a <= 60 && Math.abs(a - b) <= 2)) diff('Retry-After', ra[0], ra[1]);
  }
  if (step.method === 'HEAD') diff('Content-Length of HEAD', c.headers['content-length'], n.headers['content-length']);
  if (step.compareBody === false) return out;

  const ce = c.json?.error;
  const ne = n.json?.error;
  if (ce || ne) {
    diff('error keys', Object.keys(ce || {}).sort(), Object.keys(ne || {}).sort());
    diff('error.code', ce?.code, ne?.code);
    diff('error.field', ce?.field, ne?.field);
    diff('error.current_status', ce?.current_status, ne?.current_status);
    // a wait in seconds is volatile (it is compared as Retry-After, above); it must say what the header says
    const waitOf = (res) => {
      const m = /try again in (\d+) s/.exec(res.json?.error?.message ?? '');
      if (m && m[1] !== res.headers['retry-after']) out.push(`message says ${m[1]} s, Retry-After ${res.headers['retry-after']}`);
    };
    waitOf(c);
    waitOf(n);
    const wait = (m) => (typeof m === 'string' ? m.replace(/try again in \d+ s/, 'try again in <n> s') : m);
    const [am, bm] = [wait(normalise(ce?.message)), wait(normalise(ne?.message))];
    if (!MESSAGES[step.name]) diff('error.message', am, bm);
    else if (!(typeof am === 'string' && am.endsWith('...') && String(bm).startsWith(am.slice(0, -3)))) {
      out.push(`error.message: ours should be the reference's, cut with "...": ours ${JSON.stringify(am)}`);
    }
    return out;
  }
  if (c.json !== undefined || n.json !== undefined) {
    const a = JSON.stringify(normalise(c.json));
    const b = JSON.stringify(normalise(n.json));
    // a timestamp, token or date in the wrong shape escapes normalisation and shows up here
    if (a !== b) out.push(`body: ${firstDifference(normalise(c.json), normalise(n.json))}`);
    return out;
  }
  if (!c.body.equals(n.body)) out.push(`body: ours ${JSON.stringify(c.text.slice(0, 120))}  reference ${JSON.stringify(n.text.slice(0, 120))}`);
  return out;
}

/** A readable first difference between two JSON values: its path and both values. */
function firstDifference(a, b, p = '$') {
  const show = (v) => { const s = JSON.stringify(v); return s === undefined ? 'undefined' : s.length > 160 ? `${s.slice(0, 160)}...` : s; };
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) return firstDifference(a[i], b[i], `${p}[${i}]`);
    }
    return `${p}: equal?`;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.join('\n') !== kb.join('\n') && ka.slice().sort().join('\n') === kb.slice().sort().join('\n')) {
      return `${p}: key order: ours [${ka}]  reference [${kb}]`;
    }
    for (const k of new Set([...ka, ...kb])) {
      if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return firstDifference(a[k], b[k], `${p}.${k}`);
    }
  }
  return `${p}: ours ${show(a)}  reference ${show(b)}`;
}

/** Checks one side of a DIVERGENCES step against what it must answer. */
function expectSide(res, want) {
  const out = [];
  if (res.status !== want.status) out.push(`status ${res.status}, want ${want.status}`);
  const e = res.json?.error;
  if (want.code !== undefined && e?.code !== want.code) out.push(`error.code ${e?.code}, want ${want.code}`);
  if (want.field !== undefined && e?.field !== want.field) out.push(`error.field ${e?.field}, want ${want.field}`);
  if (want.allow !== undefined && allowSet(res.headers.allow) !== allowSet(want.allow)) {
    out.push(`Allow ${res.headers.allow}, want ${want.allow}`);
  }
  return out;
}

function buildRequest(step, ctx) {
  const val = (x) => (typeof x === 'function' ? x(ctx) : x);
  const headers = [];
  if (step.as) headers.push(['Authorization', `Bearer ${ctx.tokens[step.as] ?? 'missing-token'}`]);
  if (step.auth !== undefined) headers.push(['Authorization', val(step.auth)]);
  let body;
  if (step.json !== undefined) {
    body = Buffer.from(JSON.stringify(val(step.json)), 'utf8');
    if (step.type === undefined) headers.push(['Content-Type', 'application/json']);
  } else if (step.body !== undefined) {
    const b = val(step.body);
    body = Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8');
  }
  if (step.type !== undefined) headers.push(['Content-Type', step.type]);
  for (const [k, v] of val(step.headers) || []) headers.push([k, val(v)]);
  return { method: step.method, path: val(step.path), headers, body };
}

const todayString = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

/** Runs a CLI subcommand of `target` without blocking; resolves with its stdout. */
function cliAsync(target, db, args, input) {
  const [cmd, ...pre] = serverCommand(target);
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, [...pre, '--db', db, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    // 'close', not 'exit': only then has all of stdout been read (under load 'exit' came first
    // and the output was still empty)
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${target} ${args.join(' ')}: exit ${code}: ${err}`))));
    p.stdin.end(input || '');
  });
}

const DEVICE_TOKENS = ['admin', 'dapur1', 'kasir2']; // from the CLI; the others log in

/**
 * A database with USERS for `target`, made through its own CLI (in parallel: the reference's
 * CLI takes a second per call, so user ids may come in any order; the CLI's own report of
 * each id is kept to check the login answers), plus device tokens for DEVICE_TOKENS.
 */
async function prepare(target, dirs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kds-diff-${target}-`));
  dirs.push(dir); // removed after the test, whatever happens
  const db = path.join(dir, 'kds.db');
  const ids = {};
  const useradd = async (u) => {
    const out = await cliAsync(target, db, ['useradd', u.name, '--role', u.role,
      ...(u.outlet ? ['--outlet', String(u.outlet)] : [])], `${u.password}\n`);
    const m = /\(id (\d+)/.exec(out);
    if (!m) throw new Error(`${target} useradd ${u.name}: no id in ${JSON.stringify(out)}`);
    ids[u.name] = Number(m[1]);
  };
  await useradd(USERS[0]); // creates the schema alone
  await Promise.all(USERS.slice(1).map(useradd));
  const tokens = {};
  await Promise.all(DEVICE_TOKENS.map(async (name) => {
    const lines = (await cliAsync(target, db, ['token', name])).trim().split('\n');
    tokens[name] = lines[lines.length - 1].trim();
  }));
  return { dir, tokens, ids };
}

/** Session tokens for the users without a device token. */
async function loginRest(h) {
  await Promise.all(USERS.filter((u) => !DEVICE_TOKENS.includes(u.name)).map(async (u) => {
    h.tokens[u.name] = await h.login(u.name, u.password);
  }));
}

/** A login answer's user id, checked against the CLI's report and made comparable. */
function canonUserId(res, ids) {
  const u = res.json?.user;
  if (u && typeof u.username === 'string' && u.id === ids[u.username]) u.id = `<id of ${u.username}>`;
}

test('the REST API answers like the Node reference', { skip: REF_MISSING, timeout: 120000 }, async (t) => {
  const common = { users: USERS, args: ['--order-rate', String(ORDER_RATE), '--login-rate', '10', '--cors-origin', CORS] };
  const servers = {};
  const dirs = [];
  t.after(async () => {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
    if (!process.env.KDS_KEEP_TMP) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const steps = buildScript(); // throws on a mistake in the script before anything starts
  const t0 = Date.now();
  const [pc, pn] = await Promise.all([prepare('c', dirs), prepare('node', dirs)]);
  [servers.c, servers.node] = await Promise.all([
    start({ ...common, target: 'c', dir: pc.dir, tokens: pc.tokens }),
    start({ ...common, target: 'node', dir: pn.dir, tokens: pn.tokens }),
  ]);
  await Promise.all([loginRest(servers.c), loginRest(servers.node)]);

  const t1 = Date.now();
  const ctx = {
    c: { tokens: { ...servers.c.tokens }, v: {}, today: todayString() },
    node: { tokens: { ...servers.node.tokens }, v: {}, today: todayString() },
  };
  const problems = [];
  const verbose = !!process.env.KDS_DIFF_VERBOSE;
  let compared = 0;
  for (const [i, step] of steps.entries()) {
    const reqs = { c: buildRequest(step, ctx.c), node: buildRequest(step, ctx.node) };
    const [rc, rn] = (await Promise.all([
      rawRequest(servers.c.port, reqs.c), rawRequest(servers.node.port, reqs.node),
    ])).map(decode);
    canonUserId(rc, pc.ids);
    canonUserId(rn, pn.ids);
    if (step.save) {
      step.save(ctx.c, rc);
      step.save(ctx.node, rn);
    }
    let diffs;
    const dv = DIVERGENCES[step.name];
    if (dv) {
      diffs = [...expectSide(rc, dv.c).map((d) => `ours: ${d}`), ...expectSide(rn, dv.node).map((d) => `reference: ${d}`)];
      if (diffs.length) diffs.push(`(a deliberate divergence: ${dv.why})`);
    } else {
      diffs = compare(step, rc, rn);
      compared++;
    }
    if (verbose) process.stderr.write(`${String(i + 1).padStart(4)} ${step.method} ${reqs.c.path.slice(0, 70)} -> ${rc.status}/${rn.status} ${step.name}${diffs.length ? ' DIFF' : ''}\n`);
    if (diffs.length) {
      const body = reqs.c.body ? reqs.c.body.toString('utf8') : '';
      problems.push([
        `#${i + 1} ${step.name}: ${step.method} ${reqs.c.path.slice(0, 120)}${body ? `  body ${JSON.stringify(body.length > 100 ? `${body.slice(0, 100)}...` : body)}` : ''}`,
        ...diffs.map((d) => `    ${d}`),
        `    ours:      ${rc.status} ${rc.text.slice(0, 200)}`,
        `    reference: ${rn.status} ${rn.text.slice(0, 200)}`,
      ].join('\n'));
    }
  }
  t.diagnostic(`set-up ${t1 - t0} ms, steps ${Date.now() - t1} ms`);
  t.diagnostic(`${steps.length} steps (${steps.length * 2} requests), ${compared} compared, ` +
    `${Object.keys(DIVERGENCES).length} deliberate divergences checked one side at a time`);
  assert.ok(steps.length >= 500, 'the script is several hundred requests long');
  if (problems.length && todayString() !== ctx.c.today) {
    // invoice numbers start again at 0001 on a new day, at a different step on each server
    t.skip('the run crossed local midnight: run it again');
    return;
  }
  assert.equal(problems.length, 0,
    `${problems.length} of ${steps.length} steps answered differently:\n\n${problems.join('\n\n')}\n`);
  // both servers are still up after all of that, and ours stops cleanly (ASan: no leak)
  for (const s of Object.values(servers)) assert.equal(s.proc.exitCode, null, `${s.target} server exited`);
  const { code, signal } = await servers.c.stop();
  assert.equal(code, 0, `kds-server exit ${code} ${signal}:\n${servers.c.logs.slice(-30).join('\n')}`);
});
