'use strict';
// A small stand-in for kds-server built on the official npm `socket.io` 4.x server, so that
// kds-tui is tested against the reference Socket.IO implementation as well as ours.
// It speaks the parts of the contract a kitchen display uses (SPEC 3, 4):
//   GET  /api/v1/orders?status=a,b&limit=N&before=INV   (Bearer token; newest first)
//   POST /api/v1/orders {payment_method, items:[{product_id,qty}], note?}   (demo menu)
//   socket.io: CONNECT auth {token} (CONNECT_ERROR "unauthorized"), connection state
//   recovery, events new-order / order-updated / order-deleted, and `order-status`
//   {invoice_number, status} with its ack {ok:true, order} | {ok:false, error:{code,message}}.
// Plus hooks for tests: emit anything, write raw bytes to every WebSocket, refuse or
// delay acks, stop and restart on the same port with the same orders.
//
//   const { startPeer } = require('./peer-server');
//   const peer = await startPeer();            // peer.url, peer.tokens.dapur1 ...
//   const order = peer.createOrder([{product_id: 1, qty: 2}], 'no onion');
//   await peer.stop();
//
// Run alone for manual tests: node tests/tui/peer-server.js [port]

const http = require('node:http');
const https = require('node:https');
const { Server } = require('socket.io');

const MENU = [
  { id: 1, name: 'Corndog Sosis', price: 6000, category: 'ISI CORNDOG', sort: 1 },
  { id: 2, name: 'Corndog Mozzarella', price: 8000, category: 'ISI CORNDOG', sort: 1 },
  { id: 3, name: 'Mie', price: 2000, category: 'BALUTAN', sort: 2 },
  { id: 4, name: 'Kentang', price: 3000, category: 'BALUTAN', sort: 2 },
  { id: 5, name: 'Saus Tomat', price: 1000, category: 'SAUS ASIN', sort: 3 },
  { id: 6, name: 'Mayonaise', price: 1000, category: 'SAUS ASIN', sort: 3 },
  { id: 7, name: 'Coklat', price: 1000, category: 'SAUS MANIS', sort: 4 },
  { id: 8, name: 'Susu Kental Manis', price: 1000, category: 'SAUS MANIS', sort: 4 },
];
const STATUSES = ['new', 'preparing', 'ready', 'completed', 'cancelled'];
const TRANSITIONS = {
  new: ['preparing', 'ready', 'cancelled'],
  preparing: ['ready', 'cancelled'],
  ready: ['completed', 'preparing', 'cancelled'],
  completed: ['ready'],
  cancelled: [],
};
const ROLE_TARGETS = { admin: STATUSES, kitchen: ['preparing', 'ready', 'completed'], cashier: ['completed', 'cancelled'] };
const USERS = {
  'peer-admin': { name: 'admin', role: 'admin' },
  'peer-kasir1': { name: 'kasir1', role: 'cashier' },
  'peer-dapur1': { name: 'dapur1', role: 'kitchen' },
};

const pad = (n, w = 2) => String(Math.abs(n)).padStart(w, '0');
function localIso(d) {
  const off = -d.getTimezoneOffset();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:` +
    `${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}${off >= 0 ? '+' : '-'}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`;
}

/** The SPEC 2 shape: seed keys, one key per category in display order, then the extensions. */
function render(o) {
  const out = { invoice_number: o.invoice_number, date: o.date, total_amount: 0 };
  const groups = new Map();
  for (const l of o.lines) {
    let g = groups.get(l.category);
    if (!g) groups.set(l.category, (g = { sort: l.sort, quantity: 0, total_amount: 0, items: [] }));
    g.quantity += l.qty;
    g.total_amount += l.subtotal;
    out.total_amount += l.subtotal;
    if (!g.items.includes(l.name)) g.items.push(l.name);
  }
  for (const [cat, g] of [...groups.entries()].sort((a, b) => a[1].sort - b[1].sort)) {
    out[cat] = { quantity: g.quantity, total_amount: g.total_amount, items: g.items };
  }
  Object.assign(out, { status: o.status, created_at: o.created_at, updated_at: o.updated_at,
    payment_method: o.payment_method, outlet_id: 1 });
  if (o.note) out.note = o.note;
  out.lines = o.lines.map(({ product_id, name, category, qty, price, subtotal }) =>
    ({ product_id, name, category, qty, price, subtotal }));
  return out;
}

async function startPeer(opts = {}) {
  const peer = {
    orders: [], // creation order
    seq: 0,
    tokens: { admin: 'peer-admin', kasir1: 'peer-kasir1', dapur1: 'peer-dapur1' },
    ackMode: 'normal', // 'normal' | 'refuse' | 'drop' (never answer)
    listingOverride: null, // (req, res) => answer GET /api/v1/orders yourself (bad answers)
    statusLog: [],     // every order-status received: {invoice_number, status}
    listings: 0,       // GET /api/v1/orders served
    port: opts.port || 0,
    io: null,
    server: null,
  };

  const find = (inv) => peer.orders.find((o) => o.invoice_number === inv && !o.voided);
  const userOf = (token) => (typeof token === 'string' ? USERS[token] : undefined);

  peer.createOrder = (items = [{ product_id: 1, qty: 1 }, { product_id: 5, qty: 1 }], note, extra = {}) => {
    const now = new Date();
    const date = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
    const o = {
      invoice_number: `INV-${date.replaceAll('-', '')}-${pad(++peer.seq, 4)}`,
      date, status: 'new', created_at: localIso(now), updated_at: localIso(now), payment_method: 'CASH', note,
      lines: items.map(({ product_id, qty }) => {
        const p = MENU.find((m) => m.id === product_id);
        if (!p) throw new Error(`no product ${product_id}`);
        return { product_id, name: p.name, category: p.category, sort: p.sort, qty, price: p.price, subtotal: qty * p.price };
      }),
      ...extra,
    };
    peer.orders.push(o);
    const json = render(o);
    if (peer.io) peer.io.emit('new-order', json);
    return json;
  };

  peer.setStatus = (inv, status) => {
    const o = find(inv);
    if (!o) throw new Error(`no order ${inv}`);
    o.status = status;
    o.updated_at = localIso(new Date());
    const json = render(o);
    if (peer.io) peer.io.emit('order-updated', json);
    return json;
  };

  peer.deleteOrder = (inv) => {
    const o = find(inv);
    if (!o) throw new Error(`no order ${inv}`);
    o.voided = true;
    if (peer.io) peer.io.emit('order-deleted', { invoice_number: inv });
  };

  peer.get = (inv) => { const o = find(inv); return o && render(o); };

  /** Emits any event with any arguments to every client (malformed input tests). */
  peer.emitRaw = (event, ...args) => peer.io.emit(event, ...args);

  /** Writes raw bytes on every client's TCP connection, below the WebSocket framing. */
  peer.writeRawAll = (buf) => {
    let n = 0;
    for (const s of peer.io.of('/').sockets.values()) {
      const ws = s.conn.transport && s.conn.transport.socket;
      if (ws && ws._socket) { ws._socket.write(buf); n++; }
    }
    return n;
  };

  /** Sends a raw Engine.IO packet (text) to every client over its transport. */
  peer.sendEioAll = (text) => {
    let n = 0;
    for (const s of peer.io.of('/').sockets.values()) {
      const ws = s.conn.transport && s.conn.transport.socket;
      if (ws && typeof ws.send === 'function') { ws.send(text); n++; }
    }
    return n;
  };

  peer.clientCount = () => (peer.io ? peer.io.of('/').sockets.size : 0);

  function reply(res, status, body, headers = {}) {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
  const err = (res, status, code, message, field) =>
    reply(res, status, { error: field ? { code, message, field } : { code, message } });

  function onRequest(req, res) {
    const url = new URL(req.url, 'http://x');
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const user = auth && userOf(auth[1]);
    if (url.pathname === '/healthz') return reply(res, 200, { status: 'ok' });
    if (!url.pathname.startsWith('/api/v1/')) return err(res, 404, 'not_found', 'no such path');
    if (!user) return err(res, 401, 'unauthorized', 'missing or invalid token');
    if (url.pathname === '/api/v1/orders' && req.method === 'GET') {
      peer.listings++;
      if (peer.listingOverride) return peer.listingOverride(req, res);
      let list = peer.orders.filter((o) => !o.voided);
      const status = url.searchParams.get('status');
      if (status) {
        const want = status.split(',');
        if (want.some((s) => !STATUSES.includes(s))) return err(res, 400, 'invalid_query', 'bad status', 'status');
        list = list.filter((o) => want.includes(o.status));
      }
      list = list.slice().reverse(); // newest first
      const before = url.searchParams.get('before');
      if (before) {
        const i = list.findIndex((o) => o.invoice_number === before);
        if (i < 0) return err(res, 400, 'invalid_query', 'unknown before', 'before');
        list = list.slice(i + 1);
      }
      const limit = Math.min(Number(url.searchParams.get('limit') || 100), 1000);
      if (opts.listingDelayMs) return setTimeout(() => reply(res, 200, list.slice(0, limit).map(render)), opts.listingDelayMs);
      return reply(res, 200, list.slice(0, limit).map(render));
    }
    if (url.pathname === '/api/v1/orders' && req.method === 'POST') {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        try {
          const b = JSON.parse(body);
          reply(res, 201, peer.createOrder(b.items, b.note));
        } catch (e) {
          err(res, 422, 'validation_failed', String(e.message), 'items');
        }
      });
      return undefined;
    }
    return err(res, 404, 'not_found', 'no such path');
  }

  function attach(server) {
    const io = new Server(server, {
      pingInterval: opts.pingInterval || 25000,
      pingTimeout: opts.pingTimeout || 20000,
      maxHttpBufferSize: 1e6,
      connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
    });
    io.use((socket, next) => {
      const user = userOf(socket.handshake.auth && socket.handshake.auth.token);
      if (!user) return next(new Error('unauthorized'));
      socket.data.user = user;
      return next();
    });
    io.on('connection', (socket) => {
      socket.on('order-status', (payload, ack) => {
        const answer = typeof ack === 'function' ? ack : () => {};
        peer.statusLog.push(payload);
        if (peer.ackMode === 'drop') return;
        if (peer.ackMode === 'refuse') {
          answer({ ok: false, error: { code: 'refused_for_test', message: 'the peer refuses every change' } });
          return;
        }
        const { role } = socket.data.user;
        const inv = payload && payload.invoice_number;
        const status = payload && payload.status;
        if (!STATUSES.includes(status)) return answer({ ok: false, error: { code: 'validation_failed', message: 'bad status' } });
        if (!ROLE_TARGETS[role].includes(status)) {
          return answer({ ok: false, error: { code: 'forbidden', message: `a ${role} may not set an order to ${status}` } });
        }
        const o = find(inv);
        if (!o) return answer({ ok: false, error: { code: 'not_found', message: `order ${inv} not found` } });
        if (!TRANSITIONS[o.status].includes(status)) {
          return answer({ ok: false, error: { code: 'invalid_transition',
            message: `order ${inv} is ${o.status}; it cannot become ${status}` } });
        }
        return answer({ ok: true, order: peer.setStatus(inv, status) });
      });
    });
    return io;
  }

  // opts.tls = {key, cert} (PEM): the same peer on Node's https server (tls.test.js)
  peer.listen = () => new Promise((resolve, reject) => {
    const server = opts.tls ? https.createServer(opts.tls, onRequest) : http.createServer(onRequest);
    server.on('error', reject);
    server.listen(peer.port, '127.0.0.1', () => {
      peer.port = server.address().port;
      peer.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${peer.port}`;
      peer.server = server;
      peer.io = attach(server);
      resolve(peer);
    });
  });

  /** Stops listening and drops every client (the orders stay for a restart). */
  peer.stop = () => new Promise((resolve) => {
    if (!peer.server) return resolve();
    const { server, io } = peer;
    peer.server = null;
    peer.io = null;
    io.disconnectSockets(true);
    io.close(() => resolve());
    server.closeAllConnections && server.closeAllConnections();
    return undefined;
  });

  /** Starts again on the same port with the same orders. */
  peer.restart = async () => {
    await peer.stop();
    await peer.listen();
    return peer;
  };

  await peer.listen();
  return peer;
}

module.exports = { startPeer, MENU, render };

if (require.main === module) {
  startPeer({ port: Number(process.argv[2] || 0) }).then((peer) => {
    console.log(`peer listening on ${peer.url}; kitchen token ${peer.tokens.dapur1}`);
    setInterval(() => peer.createOrder([{ product_id: 1 + (peer.seq % 4), qty: 1 + (peer.seq % 3) },
      { product_id: 5 + (peer.seq % 4), qty: 1 }], peer.seq % 3 ? undefined : 'no onion'), 5000);
  });
}
