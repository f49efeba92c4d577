/* KDS WebSocket test client: watch the live feed, post test orders, change statuses.
 * Plain browser JavaScript, no framework, no network but the server that serves it.
 * Every piece of server data is put into the page with textContent, never as HTML. */
(function () {
  'use strict';

  const TOKEN_KEY = 'kds.token';
  const USER_KEY = 'kds.user';
  const LOG_MAX = 300;
  const ACK_TIMEOUT = 8000;
  const RESERVED = new Set(['invoice_number', 'date', 'total_amount', 'status', 'created_at', 'updated_at',
    'payment_method', 'outlet_id', 'note', 'lines', 'order_type', 'table', 'customer_name', 'rush', 'done_lines']);
  const OPEN = ['new', 'preparing', 'ready'];
  const TRANSITIONS = {
    new: ['preparing', 'ready', 'cancelled'],
    preparing: ['ready', 'cancelled'],
    ready: ['completed', 'preparing', 'cancelled'],
    completed: ['ready'],
    cancelled: [],
  };
  const ROLE_TARGETS = {
    admin: ['new', 'preparing', 'ready', 'completed', 'cancelled'],
    kitchen: ['preparing', 'ready', 'completed'],
    cashier: ['completed', 'cancelled'],
  };
  // Button label per (current status, target status).
  const ACTION_LABEL = {
    preparing: (from) => (from === 'ready' ? 'Recall to preparing' : 'Start'),
    ready: (from) => (from === 'completed' ? 'Recall to ready' : 'Ready'),
    completed: () => 'Complete',
    cancelled: () => 'Cancel',
  };
  const ORDER_TYPES = { dine_in: 'Dine in', takeaway: 'Takeaway', delivery: 'Delivery' };
  // Who may rush an order and who may mark its lines done (SPEC 10.2, 10.3).
  const MAY_RUSH = ['admin', 'cashier', 'kitchen'];
  const MAY_DONE = ['admin', 'kitchen'];
  const AGE_WARN = 5 * 60;
  const AGE_LATE = 10 * 60;

  const $ = (id) => document.getElementById(id);
  const money = new Intl.NumberFormat('id-ID');
  const rp = (n) => `Rp\u00a0${money.format(n)}`;

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    user: readJson(sessionStorage.getItem(USER_KEY)),
    socket: null,
    orders: new Map(), // invoice -> order
    fresh: new Map(), // invoice -> time it arrived live (for the highlight)
    loud: new Map(), // invoice -> {order, kind, until}: a cancel or void shown before it leaves (SPEC 10.8)
    bells: 0,
    cardErrors: new Map(), // invoice -> message
    pending: new Set(), // invoices with a status change in flight
    products: [],
    qty: new Map(), // product id -> qty in the form
    lineExtra: new Map(), // product id -> {note, modifiers} typed in the form
    loading: null, // events that arrive while the order list loads: [[event, data]]
    wantConnected: true,
  };

  function readJson(text) {
    try { return text ? JSON.parse(text) : null; } catch (e) { return null; }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
    return node;
  }

  function announce(text) {
    const a = $('announce');
    a.textContent = '';
    setTimeout(() => { a.textContent = text; }, 30);
  }

  // ---- event log -------------------------------------------------------------

  /** Pretty JSON with highlighted tokens, built as DOM nodes. */
  function jsonNode(value) {
    const text = JSON.stringify(value, null, 2);
    const pre = el('pre', { class: 'json' });
    if (text === undefined) {
      pre.textContent = 'undefined';
      return pre;
    }
    const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) pre.append(text.slice(last, m.index));
      if (m[1] && m[2]) {
        pre.append(el('span', { class: 'j-key', text: m[1] }), m[2]);
      } else if (m[1]) {
        pre.append(el('span', { class: 'j-str', text: m[1] }));
      } else if (m[3]) {
        pre.append(el('span', { class: 'j-lit', text: m[3] }));
      } else {
        pre.append(el('span', { class: 'j-num', text: m[4] }));
      }
      last = re.lastIndex;
    }
    pre.append(text.slice(last));
    return pre;
  }

  /** kind: in (from the server), out (to the server), sys (the client itself), err. */
  function log(kind, name, summary, data) {
    const list = $('log');
    const arrow = { in: '↓', out: '↑', sys: '•', err: '!' }[kind] || '•';
    const time = new Date().toLocaleTimeString([], { hour12: false });
    const head = el('div', { class: 'ev-head' },
      el('time', { text: time }),
      el('span', { class: 'ev-dir', 'aria-label': { in: 'received', out: 'sent', sys: 'client', err: 'error' }[kind], text: arrow }),
      el('code', { class: 'ev-name', text: name }),
      summary ? el('span', { class: 'ev-sum', text: summary }) : null);
    const item = el('li', { class: `ev ev-${kind}` }, head);
    if (data !== undefined) {
      const details = el('details', {}, el('summary', { text: 'JSON' }), jsonNode(data));
      if ($('log-expand').checked) details.open = true;
      item.append(details);
    }
    list.prepend(item);
    while (list.children.length > LOG_MAX) list.lastElementChild.remove();
  }

  function orderSummary(o) {
    if (!o || typeof o !== 'object') return '';
    const parts = [o.invoice_number];
    if (o.status) parts.push(o.status);
    if (typeof o.total_amount === 'number') parts.push(rp(o.total_amount));
    return parts.filter(Boolean).join(' · ');
  }

  // ---- REST ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      const e = body && body.error;
      super(e ? `${e.message}` : `HTTP ${status}`);
      this.status = status;
      this.code = e ? e.code : `http_${status}`;
      this.field = e && e.field;
      this.currentStatus = e && e.current_status;
    }
  }

  async function api(method, path, body, extraHeaders) {
    const headers = Object.assign({}, extraHeaders);
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const quiet = method === 'GET';
    if (!quiet) log('out', method, path, body);
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      log('err', method, `${path} · network error: ${err.message}`);
      throw new ApiError(0, { error: { code: 'network_error', message: 'the server cannot be reached' } });
    }
    const text = await res.text();
    const json = readJson(text);
    if (!quiet || !res.ok) {
      const code = json && json.error && json.error.code;
      log(res.ok ? 'in' : 'err', `${res.status} ${method}`, code ? `${path} · ${code}` : path, json);
    }
    if (res.status === 401 && state.token && path !== '/api/v1/auth/login') {
      setAuthMessage('Your session has ended or the token is not valid. Sign in again.');
    }
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }

  // ---- auth ------------------------------------------------------------------

  function setAuthMessage(text, ok) {
    const m = $('auth-msg');
    m.textContent = text || '';
    m.classList.toggle('ok', !!ok);
  }

  function renderAuth() {
    const signedIn = !!state.token;
    $('signed-in').hidden = !signedIn;
    $('login-form').hidden = signedIn;
    $('auth-title').textContent = signedIn ? 'Signed in' : 'Sign in';
    if (signedIn) {
      const u = state.user;
      $('who-name').textContent = u ? u.username : 'Device token';
      $('who-role').textContent = u
        ? `${u.role}${u.outlet_id ? ` · outlet ${u.outlet_id}` : ' · all outlets'}`
        : '(role unknown)';
      $('who-expiry').textContent = u && u.expires_at ? `Session until ${new Date(u.expires_at).toLocaleString()}` : '';
    }
  }

  function setToken(token, user) {
    state.token = token || '';
    state.user = user || null;
    if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
    else sessionStorage.removeItem(TOKEN_KEY);
    if (state.user) sessionStorage.setItem(USER_KEY, JSON.stringify(state.user));
    else sessionStorage.removeItem(USER_KEY);
    renderAuth();
    state.orders.clear();
    renderOrders();
    loadMenu();
    reconnect();
  }

  async function login(ev) {
    ev.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    if (!username || !password) {
      setAuthMessage('Enter a username and a password.');
      return;
    }
    $('login-btn').disabled = true;
    setAuthMessage('Signing in…', true);
    try {
      const r = await api('POST', '/api/v1/auth/login', { username, password });
      $('login-password').value = '';
      setAuthMessage('');
      setToken(r.token, Object.assign({}, r.user, { expires_at: r.expires_at }));
    } catch (err) {
      setAuthMessage(err.status === 401 ? 'Wrong username or password.' : `Sign-in failed: ${err.message}`);
    } finally {
      $('login-btn').disabled = false;
    }
  }

  function useToken() {
    const token = $('token-input').value.trim();
    if (!token) {
      setAuthMessage('Paste a token first.');
      return;
    }
    $('token-input').value = '';
    setAuthMessage('');
    setToken(token, null);
  }

  async function logout() {
    if (state.user && state.user.expires_at) {
      // A login session is revoked on the server; a pasted device token is only forgotten here.
      try { await api('POST', '/api/v1/auth/logout'); } catch (e) { /* forgotten anyway */ }
    }
    setToken('', null);
    setAuthMessage('Signed out.', true);
  }

  // ---- connection ----------------------------------------------------------

  function setConn(stateName, label, detail) {
    $('conn').dataset.state = stateName;
    $('conn-state').textContent = label;
    $('conn-detail').textContent = detail || '';
    $('connect-btn').textContent = stateName === 'connected' || stateName === 'reconnecting' || stateName === 'connecting'
      ? 'Disconnect' : 'Connect';
  }

  function showTransport() {
    const s = state.socket;
    const engine = s && s.io.engine;
    $('transport').textContent = s && s.connected && engine && engine.transport ? engine.transport.name : '–';
    $('socket-id').textContent = s && s.connected ? s.id : '–';
  }

  function connect() {
    if (typeof io !== 'function') {
      setConn('error', 'No client library', '/socket.io/socket.io.js did not load');
      log('err', 'socket.io.js', 'the Socket.IO client bundle did not load from the server');
      return;
    }
    state.wantConnected = true;
    const token = state.token;
    // Socket.IO's defaults: HTTP long-polling first, then the upgrade to WebSocket.
    const socket = io({ auth: token ? { token } : {}, reconnectionDelayMax: 10000 });
    state.socket = socket;
    setConn('connecting', 'Connecting…');
    log('sys', 'connect', token ? 'with a token' : 'without a token (anonymous)');

    socket.on('connect', () => {
      if (state.socket !== socket) return;
      const engine = socket.io.engine;
      setConn('connected', 'Connected', socket.recovered ? '(session recovered: missed events replayed)' : '');
      showTransport();
      log('sys', 'connected', `id ${socket.id} · ${engine.transport.name}${socket.recovered ? ' · recovered' : ''}`);
      engine.off('upgrade', onUpgrade);
      engine.on('upgrade', onUpgrade);
      if (!socket.recovered) loadOrders();
    });
    function onUpgrade(transport) {
      showTransport();
      log('sys', 'upgrade', `transport is now ${transport.name}`);
    }
    socket.on('disconnect', (reason) => {
      if (state.socket !== socket) return;
      showTransport();
      if (socket.active) setConn('reconnecting', 'Reconnecting…', `(${reason})`);
      else setConn('disconnected', 'Disconnected', `(${reason})`);
      log('sys', 'disconnect', reason);
    });
    socket.on('connect_error', (err) => {
      if (state.socket !== socket) return;
      showTransport();
      if (socket.active) {
        setConn('reconnecting', 'Reconnecting…', `(${err.message})`);
      } else {
        // Refused by the server (CONNECT_ERROR): it will not retry by itself.
        const hint = err.message === 'unauthorized' ? (state.token ? ': the token was not accepted' : ': sign in first') : '';
        setConn('refused', 'Refused', `${err.message}${hint}`);
      }
      log('err', 'connect_error', err.message, err.data);
    });
    socket.io.on('reconnect_attempt', (n) => {
      if (state.socket !== socket) return;
      setConn('reconnecting', 'Reconnecting…', `(attempt ${n})`);
    });
    socket.io.on('reconnect_failed', () => {
      if (state.socket === socket) setConn('disconnected', 'Disconnected', '(gave up reconnecting)');
    });

    socket.on('new-order', (order) => onEvent(socket, 'new-order', order));
    socket.on('order-updated', (order) => onEvent(socket, 'order-updated', order));
    socket.on('order-deleted', (data) => onEvent(socket, 'order-deleted', data));
    socket.onAny((event, ...args) => {
      if (!['new-order', 'order-updated', 'order-deleted'].includes(event)) log('in', event, '', args[0]);
    });
  }

  function disconnect() {
    state.wantConnected = false;
    if (state.socket) {
      state.socket.disconnect();
      state.socket = null;
    }
    setConn('disconnected', 'Disconnected', '(by you)');
    showTransport();
  }

  function reconnect() {
    if (state.socket) {
      state.socket.disconnect();
      state.socket = null;
    }
    connect();
  }

  // ---- orders ----------------------------------------------------------------

  function onEvent(socket, event, data) {
    if (state.socket !== socket) return;
    log('in', event, event === 'order-deleted' ? (data && data.invoice_number) : orderSummary(data), data);
    if (state.loading) {
      state.loading.push([event, data]);
      return;
    }
    applyEvent(event, data, true);
  }

  const LOUD_MS = 5000;

  /** Today in the server's zone, from the offset its timestamps carry (SPEC 11.11: never Z). */
  function serverToday(ts) {
    const m = /([+-])(\d\d):?(\d\d)$/.exec(typeof ts === 'string' ? ts : '');
    const off = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : -new Date().getTimezoneOffset();
    return new Date(Date.now() + off * 60000).toISOString().slice(0, 10);
  }

  /** A cook must stop cooking it: the card stays, marked, with the bell, for a few seconds. */
  function loud(inv, order, kind) {
    state.loud.set(inv, { order, kind, until: Date.now() + LOUD_MS });
    bell();
    announce(`Order ${inv} ${kind}`);
    setTimeout(renderOrders, LOUD_MS + 50);
  }

  function bell() {
    state.bells++;
    if (window.kdsSound) window.kdsSound.bell(); // public/kds-sound.js; the card says it anyway
  }

  /** Lines done or rush changed: highlighted like a new order (SPEC 10.8). */
  function workChanged(a, b) {
    return !!a.rush !== !!b.rush || JSON.stringify(a.lines) !== JSON.stringify(b.lines);
  }

  function applyEvent(event, data, live) {
    if (!data || typeof data.invoice_number !== 'string') return;
    const inv = data.invoice_number;
    const prev = state.orders.get(inv);
    if (event === 'order-deleted') {
      if (live && prev && OPEN.includes(prev.status)) loud(inv, prev, 'voided');
      state.orders.delete(inv);
    } else {
      if (live && prev && data.status === 'cancelled' && OPEN.includes(prev.status)) loud(inv, data, 'cancelled');
      else if (live && prev && event === 'order-updated' && workChanged(prev, data)) state.fresh.set(inv, Date.now());
      state.orders.set(inv, data);
      if (event === 'new-order' && live) {
        state.fresh.set(inv, Date.now());
        announce(`New order ${inv}`);
      }
      state.cardErrors.delete(inv);
    }
    renderOrders();
  }

  /** On every (non-recovered) connect: the open queue from REST, then the live events. */
  async function loadOrders() {
    if (!state.token) {
      renderOrders();
      return;
    }
    state.loading = [];
    try {
      const list = await api('GET', '/api/v1/orders?status=new,preparing,ready&limit=200');
      const keep = [...state.orders.values()].filter((o) => !OPEN.includes(o.status));
      state.orders.clear();
      for (const o of list.slice().reverse()) state.orders.set(o.invoice_number, o);
      for (const o of keep) if (!state.orders.has(o.invoice_number)) state.orders.set(o.invoice_number, o);
      log('sys', 'orders loaded', `${list.length} open`);
    } catch (err) {
      log('err', 'orders', `could not load the open orders: ${err.message}`);
    } finally {
      const queued = state.loading || [];
      state.loading = null;
      for (const [event, data] of queued) applyEvent(event, data, true);
      renderOrders();
    }
  }

  function fmtAge(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    const h = Math.floor(m / 60);
    const two = (n) => String(n).padStart(2, '0');
    return h ? `${h}:${two(m % 60)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
  }

  /** The order's categories in their display order, each with its lines ("2× Mie"). */
  function groups(order) {
    const cats = Object.keys(order).filter((k) => !RESERVED.has(k) && order[k] && typeof order[k] === 'object' && !Array.isArray(order[k]));
    const lines = Array.isArray(order.lines) ? order.lines : null;
    return cats.map((name) => {
      const cat = order[name];
      const items = lines
        ? lines.map((l, i) => ({ qty: l.qty, name: l.name, n: i + 1, line: l })).filter((it) => it.line.category === name)
        : (cat.items || []).map((n) => ({ qty: null, name: n, n: 0, line: null })); // seed shape only: no per-item qty
      return { name, quantity: cat.quantity, total: cat.total_amount, items };
    });
  }

  function allowedTargets(order) {
    const next = TRANSITIONS[order.status] || [];
    const role = state.user && state.user.role;
    if (!state.token) return [];
    return role ? next.filter((t) => ROLE_TARGETS[role].includes(t)) : next;
  }

  function mayDo(list) {
    const role = state.user && state.user.role;
    if (!state.token) return false;
    return role ? list.includes(role) : true; // a device token's role is unknown: offer it
  }

  /** One kitchen line: done toggle, qty, name, then its modifiers and note (SPEC 10.1, 10.3). */
  function lineItem(order, it, busy) {
    const l = it.line;
    const done = !!(l && l.done);
    const li = el('li', { class: done ? 'line done' : 'line', dataset: it.n ? { line: String(it.n) } : undefined });
    if (l && mayDo(MAY_DONE)) {
      // No text inside: the line's text stays "2× Mie" for readers and tests; the box is drawn by CSS.
      li.append(el('button', {
        type: 'button', class: 'line-done', disabled: busy,
        dataset: { lineDone: String(it.n), invoice: order.invoice_number },
        'aria-pressed': done ? 'true' : 'false',
        'aria-label': `${done ? 'Not done' : 'Done'}: line ${it.n}, ${it.name}`,
        title: done ? 'Mark not done' : 'Mark done',
      }));
    }
    if (done) li.append(el('span', { class: 'tick', 'aria-label': 'done', text: '✓' }), ' ');
    if (it.qty !== null) li.append(el('b', { class: 'qty', text: `${it.qty}×` }), ' ');
    li.append(el('span', { class: 'lname', text: it.name }));
    const mods = l && Array.isArray(l.modifiers) ? l.modifiers : [];
    if (mods.length || (l && l.note)) {
      li.append(el('div', { class: 'line-extra' },
        mods.map((m) => el('span', { class: 'mod', text: m })),
        l && l.note ? el('span', { class: 'line-note', text: l.note }) : null));
    }
    return li;
  }

  function card(order) {
    const inv = order.invoice_number;
    const status = order.status || 'new';
    const created = Date.parse(order.created_at);
    const isFresh = state.fresh.has(inv) && Date.now() - state.fresh.get(inv) < 8000;
    const loudKind = state.loud.has(inv) ? state.loud.get(inv).kind : '';
    const node = el('article', {
      class: `card status-${status}${isFresh ? ' fresh' : ''}${order.rush ? ' rush' : ''}${loudKind ? ' loud' : ''}`,
      dataset: { invoice: inv, status, created: Number.isFinite(created) ? String(created) : '', rush: order.rush ? 'true' : 'false' },
      'aria-labelledby': `h-${inv}`,
    });

    const head = el('header', { class: 'card-head' },
      order.rush ? el('span', { class: 'rush-mark', title: 'Rush order', text: '⚡ RUSH' }) : null,
      el('h3', { id: `h-${inv}`, text: inv }),
      el('span', { class: `badge badge-${status}`, text: status }));
    const ctx = [ORDER_TYPES[order.order_type] || order.order_type, order.table ? `Table ${order.table}` : null, order.customer_name]
      .filter(Boolean);
    const meta = el('p', { class: 'card-meta' },
      el('span', { class: 'age', 'aria-label': 'age', text: Number.isFinite(created) ? fmtAge((Date.now() - created) / 1000) : '–' }),
      el('span', { text: order.outlet_id ? `outlet ${order.outlet_id}` : '' }),
      el('span', { text: order.payment_method || '' }),
      el('span', { class: 'total', text: typeof order.total_amount === 'number' ? rp(order.total_amount) : '' }));
    node.append(head);
    if (loudKind) {
      node.append(el('p', { class: 'loud-banner', role: 'alert', text: `${loudKind.toUpperCase()}: stop, do not make it` }));
    }
    if (order.date && order.date !== serverToday(order.created_at)) {
      node.append(el('p', { class: 'card-day', text: `from ${order.date}` })); // an earlier business day (SPEC 10.7)
    }
    if (ctx.length) {
      node.append(el('p', { class: 'card-context' },
        order.order_type ? el('span', { class: `otype otype-${order.order_type}`, text: ORDER_TYPES[order.order_type] || order.order_type }) : null,
        order.table ? el('span', { class: 'table', text: `Table ${order.table}` }) : null,
        order.customer_name ? el('span', { class: 'customer', text: order.customer_name }) : null));
    }
    node.append(meta);
    const busy = state.pending.has(inv);

    const body = el('div', { class: 'groups' });
    for (const g of groups(order)) {
      body.append(el('section', { class: 'group' },
        el('h4', {}, el('span', { text: g.name }), el('span', { class: 'gqty', 'aria-label': `${g.quantity} items`, text: `${g.quantity}` })),
        el('ul', {}, g.items.map((it) => lineItem(order, it, busy)))));
    }
    node.append(body);
    if (order.note) node.append(el('p', { class: 'note' }, el('span', { class: 'note-label', text: 'Note' }), el('span', { text: order.note })));

    const targets = allowedTargets(order);
    const rushBtn = OPEN.includes(status) && mayDo(MAY_RUSH) ? el('button', {
      type: 'button',
      class: `btn btn-small act-rush${order.rush ? ' on' : ''}`,
      dataset: { rush: order.rush ? 'false' : 'true', invoice: inv },
      'aria-pressed': order.rush ? 'true' : 'false',
      disabled: busy,
      text: order.rush ? 'Unrush' : 'Rush',
      'aria-label': `${order.rush ? 'Unrush' : 'Rush'} ${inv}`,
    }) : null;
    if (!loudKind && (targets.length || rushBtn)) {
      node.append(el('footer', { class: 'actions' }, rushBtn, targets.map((t) => el('button', {
        type: 'button',
        class: `btn btn-small act act-${t}`,
        dataset: { action: t, invoice: inv },
        disabled: busy,
        text: ACTION_LABEL[t](status),
        'aria-label': `${ACTION_LABEL[t](status)} ${inv}`,
      }))));
    }
    const err = state.cardErrors.get(inv);
    if (err) node.append(el('p', { class: 'card-error', role: 'alert', text: err }));
    return node;
  }

  function renderOrders() {
    const showDone = $('show-done').checked;
    const all = [...state.orders.values()];
    const now = Date.now();
    for (const [inv, l] of state.loud) if (l.until <= now) state.loud.delete(inv);
    const open = all.filter((o) => OPEN.includes(o.status) || state.loud.has(o.invoice_number))
      .concat([...state.loud.values()].filter((l) => !state.orders.has(l.order.invoice_number)).map((l) => l.order))
      .sort((a, b) => (!!b.rush - !!a.rush) || (a.created_at < b.created_at ? -1 : 1));
    const done = showDone ? all.filter((o) => !OPEN.includes(o.status) && !state.loud.has(o.invoice_number)).sort((a, b) => (a.updated_at > b.updated_at ? -1 : 1)) : [];
    const box = $('orders');
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset : null;
    const refocus = focused && focused.action ? `${focused.invoice}|${focused.action}` : null;
    const refocusLine = focused && focused.lineDone ? `${focused.invoice}|${focused.lineDone}` : null;
    const refocusRush = focused && focused.rush ? focused.invoice : null;
    box.replaceChildren(...open.concat(done).map(card));
    $('order-count').textContent = String(open.length);
    $('orders-empty').hidden = open.length + done.length > 0;
    if (refocus) {
      const [inv, action] = refocus.split('|');
      const b = box.querySelector(`button[data-invoice="${CSS.escape(inv)}"][data-action="${CSS.escape(action)}"]`);
      if (b) b.focus();
    }
    if (refocusLine) {
      const [inv, n] = refocusLine.split('|');
      const b = box.querySelector(`button[data-invoice="${CSS.escape(inv)}"][data-line-done="${CSS.escape(n)}"]`);
      if (b) b.focus();
    }
    if (refocusRush) {
      const b = box.querySelector(`button[data-invoice="${CSS.escape(refocusRush)}"][data-rush]`);
      if (b) b.focus();
    }
    tickAges();
  }

  function tickAges() {
    const now = Date.now();
    for (const c of document.querySelectorAll('.card')) {
      const created = Number(c.dataset.created);
      if (!created) continue;
      const secs = (now - created) / 1000;
      const open = OPEN.includes(c.dataset.status);
      const age = c.querySelector('.age');
      if (open) age.textContent = fmtAge(secs);
      c.classList.toggle('warn', open && secs >= AGE_WARN && secs < AGE_LATE);
      c.classList.toggle('late', open && secs >= AGE_LATE);
      if (c.classList.contains('fresh')) {
        const inv = c.dataset.invoice;
        if (now - (state.fresh.get(inv) || 0) >= 8000) c.classList.remove('fresh');
      }
    }
  }

  /** Sends a socket command and waits for its acknowledgement; returns the order it answers with. */
  async function emitCommand(event, payload, what) {
    const s = state.socket;
    if (!s || !s.connected) throw new Error('not connected: reconnect, or send changes via REST');
    log('out', event, what, payload);
    let reply;
    try {
      reply = await s.timeout(ACK_TIMEOUT).emitWithAck(event, payload);
    } catch (e) {
      throw new Error(`no acknowledgement within ${ACK_TIMEOUT / 1000} s`);
    }
    log(reply && reply.ok ? 'in' : 'err', `ack ${event}`, reply && reply.ok ? orderSummary(reply.order) : (reply && reply.error && reply.error.code), reply);
    if (!reply || !reply.ok) {
      const e = (reply && reply.error) || {};
      throw new Error(`${e.code || 'error'}: ${e.message || 'refused'}${e.current_status ? ` (now ${e.current_status})` : ''}`);
    }
    return reply.order;
  }

  /** A status change or a line's done flag: over the socket (with its ack) or REST, as chosen. */
  async function sendChange(inv, socketCmd, restPath, restBody) {
    const via = document.querySelector('input[name="via"]:checked').value;
    state.pending.add(inv);
    state.cardErrors.delete(inv);
    renderOrders();
    try {
      let order;
      if (via === 'socket') {
        order = await emitCommand(socketCmd.event, socketCmd.payload, socketCmd.what);
      } else {
        try {
          order = await api('PATCH', `/api/v1/orders/${encodeURIComponent(inv)}/${restPath}`, restBody);
        } catch (e) {
          throw new Error(`${e.code}: ${e.message}${e.currentStatus ? ` (now ${e.currentStatus})` : ''}`);
        }
      }
      if (order && order.invoice_number) state.orders.set(order.invoice_number, order);
    } catch (err) {
      state.cardErrors.set(inv, err.message);
    } finally {
      state.pending.delete(inv);
      renderOrders();
    }
  }

  function changeStatus(inv, status) {
    return sendChange(inv, { event: 'order-status', payload: { invoice_number: inv, status }, what: `${inv} → ${status}` },
      'status', { status });
  }

  /** Item-level done (SPEC 10.3): the line-done event over the socket, or PATCH .../lines/n. */
  function lineDone(inv, n, done) {
    return sendChange(inv, { event: 'line-done', payload: { invoice_number: inv, line: n, done }, what: `${inv} line ${n} ${done ? 'done' : 'not done'}` },
      `lines/${n}`, { done });
  }

  /** PATCH priority over REST (there is no socket command for it); the card shows the answer or the refusal. */
  async function patchOrder(inv, path, body) {
    state.pending.add(inv);
    state.cardErrors.delete(inv);
    renderOrders();
    try {
      const order = await api('PATCH', `/api/v1/orders/${encodeURIComponent(inv)}/${path}`, body);
      if (order && order.invoice_number) state.orders.set(order.invoice_number, order);
    } catch (e) {
      state.cardErrors.set(inv, `${e.code}: ${e.message}${e.currentStatus ? ` (now ${e.currentStatus})` : ''}`);
    } finally {
      state.pending.delete(inv);
      renderOrders();
    }
  }

  // ---- the create-order form ----------------------------------------------------

  async function loadMenu() {
    const menu = $('menu');
    state.products = [];
    state.qty.clear();
    state.lineExtra.clear();
    if (!state.token) {
      menu.replaceChildren(el('p', { class: 'muted', text: 'Sign in to load the menu.' }));
      updateSum();
      return;
    }
    menu.replaceChildren(el('p', { class: 'muted', text: 'Loading the menu…' }));
    try {
      const [products, categories] = await Promise.all([api('GET', '/api/v1/products'), api('GET', '/api/v1/categories')]);
      state.products = products;
      const order = new Map(categories.map((c) => [c.id, c.sort_order]));
      const byCat = new Map();
      for (const p of products) {
        if (!byCat.has(p.category)) byCat.set(p.category, { id: p.category_id, items: [] });
        byCat.get(p.category).items.push(p);
      }
      const cats = [...byCat.entries()].sort((a, b) => (order.get(a[1].id) || 0) - (order.get(b[1].id) || 0) || a[1].id - b[1].id);
      menu.replaceChildren(...cats.map(([name, c]) => el('fieldset', { class: 'menu-cat' },
        el('legend', { text: name }),
        c.items.map((p) => productRow(p)))));
      if (!products.length) menu.replaceChildren(el('p', { class: 'muted', text: 'The menu is empty (start the server with --demo).' }));
    } catch (err) {
      menu.replaceChildren(el('p', { class: 'form-msg', text: `Could not load the menu: ${err.message}` }));
    }
    updateSum();
  }

  function productRow(p) {
    const id = `qty-${p.id}`;
    const input = el('input', {
      id, type: 'number', min: 0, max: 999, step: 1, value: 0, inputmode: 'numeric',
      class: 'qty-input', dataset: { product: p.id }, disabled: !p.active,
    });
    const set = (v) => {
      const n = Math.max(0, Math.min(999, Math.floor(Number(v)) || 0));
      input.value = String(n);
      if (n) state.qty.set(p.id, n); else state.qty.delete(p.id);
      updateSum();
    };
    input.addEventListener('input', () => set(input.value));
    const extra = state.lineExtra.get(p.id) || { note: '', modifiers: '' };
    state.lineExtra.set(p.id, extra);
    const noteIn = el('input', { id: `line-note-${p.id}`, class: 'line-note-input', maxlength: 140, autocomplete: 'off', placeholder: 'line note', 'aria-label': `note for ${p.name}` });
    const modsIn = el('input', { id: `line-mods-${p.id}`, class: 'line-mods-input', autocomplete: 'off', placeholder: 'modifiers, comma-separated', 'aria-label': `modifiers for ${p.name}` });
    noteIn.addEventListener('input', () => { extra.note = noteIn.value; });
    modsIn.addEventListener('input', () => { extra.modifiers = modsIn.value; });
    return el('div', { class: `product${p.active ? '' : ' inactive'}`, dataset: { productRow: p.id } },
      el('label', { for: id },
        el('span', { class: 'pname', text: p.name }),
        el('span', { class: 'pprice', text: p.active ? rp(p.price) : 'inactive' })),
      el('div', { class: 'stepper' },
        el('button', { type: 'button', class: 'btn btn-step', 'aria-label': `one less ${p.name}`, disabled: !p.active, onclick: () => set(Number(input.value) - 1) }, '−'),
        input,
        el('button', { type: 'button', class: 'btn btn-step', 'aria-label': `one more ${p.name}`, disabled: !p.active, onclick: () => set(Number(input.value) + 1) }, '+')),
      el('div', { class: 'line-extra-inputs' }, modsIn, noteIn));
  }

  function updateSum() {
    let count = 0;
    let total = 0;
    for (const [id, q] of state.qty) {
      const p = state.products.find((x) => x.id === id);
      if (!p) continue;
      count += q;
      total += q * p.price;
    }
    $('order-sum').textContent = count ? `${count} item${count === 1 ? '' : 's'} · ${rp(total)}` : 'No items';
    // A product's note and modifiers fields show only while it is in the order.
    for (const row of document.querySelectorAll('.product[data-product-row]')) {
      row.classList.toggle('chosen', state.qty.has(Number(row.dataset.productRow)));
    }
    $('post-order').disabled = !count || !state.token;
  }

  function clearForm() {
    state.qty.clear();
    for (const i of document.querySelectorAll('.qty-input')) i.value = '0';
    for (const i of document.querySelectorAll('.line-note-input, .line-mods-input')) i.value = '';
    for (const x of state.lineExtra.values()) { x.note = ''; x.modifiers = ''; }
    $('note').value = '';
    $('order-type').value = '';
    $('table').value = '';
    $('customer-name').value = '';
    updateSum();
  }

  function setOrderMessage(text, ok) {
    const m = $('order-msg');
    m.textContent = text || '';
    m.classList.toggle('ok', !!ok);
  }

  async function postOrder(ev) {
    ev.preventDefault();
    const items = [...state.qty.entries()].map(([product_id, qty]) => {
      const item = { product_id, qty };
      const x = state.lineExtra.get(product_id);
      // Only what was filled in: an order without them is byte-for-byte the old one.
      if (x && x.note.trim()) item.note = x.note.trim();
      const mods = x ? x.modifiers.split(',').map((m) => m.trim()).filter(Boolean) : [];
      if (mods.length) item.modifiers = mods;
      return item;
    });
    if (!items.length) return;
    const body = { payment_method: $('payment').value, items };
    const note = $('note').value.trim();
    if (note) body.note = note;
    if ($('order-type').value) body.order_type = $('order-type').value;
    const table = $('table').value.trim();
    if (table) body.table = table;
    const customer = $('customer-name').value.trim();
    if (customer) body.customer_name = customer;
    // One key per order: a double submit or a retry never makes a second order.
    const key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    $('post-order').disabled = true;
    setOrderMessage('Posting…', true);
    try {
      const order = await api('POST', '/api/v1/orders', body, { 'Idempotency-Key': key });
      setOrderMessage(`Posted ${order.invoice_number} · ${rp(order.total_amount)}`, true);
      clearForm();
    } catch (err) {
      setOrderMessage(`${err.status || ''} ${err.code}: ${err.message}${err.field ? ` (${err.field})` : ''}`.trim());
    } finally {
      updateSum();
    }
  }

  // ---- wiring ----------------------------------------------------------------

  $('server-url').textContent = location.origin;
  $('login-form').addEventListener('submit', login);
  $('token-btn').addEventListener('click', useToken);
  $('token-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); useToken(); } });
  $('logout-btn').addEventListener('click', logout);
  $('connect-btn').addEventListener('click', () => {
    if (state.socket && (state.socket.connected || state.socket.active)) disconnect();
    else reconnect();
  });
  $('order-form').addEventListener('submit', postOrder);
  $('clear-order').addEventListener('click', () => { clearForm(); setOrderMessage(''); });
  $('show-done').addEventListener('change', renderOrders);
  $('log-clear').addEventListener('click', () => $('log').replaceChildren());
  $('log-expand').addEventListener('change', (e) => {
    for (const d of document.querySelectorAll('#log details')) d.open = e.target.checked;
  });
  $('orders').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (b && !b.disabled) changeStatus(b.dataset.invoice, b.dataset.action);
    const r = e.target.closest('button[data-rush]');
    if (r && !r.disabled) patchOrder(r.dataset.invoice, 'priority', { rush: r.dataset.rush === 'true' });
    const d = e.target.closest('button[data-line-done]');
    if (d && !d.disabled) {
      const o = state.orders.get(d.dataset.invoice);
      const n = Number(d.dataset.lineDone);
      const line = o && Array.isArray(o.lines) ? o.lines[n - 1] : null;
      lineDone(d.dataset.invoice, n, !(line && line.done));
    }
  });
  setInterval(tickAges, 1000);

  renderAuth();
  renderOrders();
  loadMenu();
  connect();
}());
