/* Customer board (SPEC 10.6): the order numbers being prepared and ready to collect, live over
 * Socket.IO, readable across a room. Server data goes into the page only as textContent. */
(function () {
  'use strict';

  const TOKEN_KEY = 'kds.token';
  const DEFAULT_READY_FOR_S = 300;
  const FRESH_MS = 10000; // how long a just-ready number pulses
  const SHOWN = ['new', 'preparing', 'ready'];
  const LOUD_MS = 5000; // how long a cancelled or voided number stays, marked

  const $ = (id) => document.getElementById(id);
  const state = {
    token: '',
    socket: null,
    readyForS: DEFAULT_READY_FOR_S,
    orders: new Map(), // invoice -> order (only those on the board)
    loud: new Map(), // invoice -> {order, until}: cancelled or voided, shown a few seconds more
    readySince: new Map(), // invoice -> ms since the epoch when it became ready
    loading: null, // events that arrive during a load: [[event, data]]
  };
  // For tests and for staff at the screen's console.
  const pub = { chimes: 0, bells: 0, loads: 0, state };
  window.kdsBoard = pub;

  // ---- sign-in: ?token= (a wall screen's start-up URL) or this tab's sessionStorage -------

  function takeUrlToken() {
    const url = new URL(location.href);
    const t = url.searchParams.get('token');
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    // Keep the token out of the address bar, screenshots and the history.
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }

  function showSignin(msg) {
    $('signin').hidden = false;
    $('signin-msg').textContent = msg || '';
    setConn('refused', 'Not signed in');
  }

  async function signin(ev) {
    ev.preventDefault();
    const token = $('signin-token').value.trim();
    const username = $('signin-user').value.trim();
    const password = $('signin-pass').value;
    let t = token;
    if (!t) {
      if (!username || !password) {
        $('signin-msg').textContent = 'Paste a display token, or enter a username and a password.';
        return;
      }
      try {
        const res = await fetch('/api/v1/auth/login', {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }),
        });
        const body = await res.json().catch(() => null);
        if (!res.ok) {
          $('signin-msg').textContent = res.status === 401 ? 'Wrong username or password.'
            : `Sign-in failed: ${(body && body.error && body.error.message) || res.status}`;
          return;
        }
        t = body.token;
      } catch (e) {
        $('signin-msg').textContent = 'The server cannot be reached.';
        return;
      }
    }
    $('signin-pass').value = '';
    $('signin-token').value = '';
    sessionStorage.setItem(TOKEN_KEY, t);
    $('signin').hidden = true;
    begin();
  }

  function signedOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = '';
    if (state.socket) {
      state.socket.disconnect();
      state.socket = null;
    }
    showSignin(msg);
  }

  async function api(path) {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
    if (res.status === 401) {
      signedOut('The token was not accepted: sign in again.');
      throw new Error('unauthorized');
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((body && body.error && body.error.message) || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // ---- connection ---------------------------------------------------------------------

  function setConn(name, text) {
    $('conn').dataset.state = name;
    $('conn-text').textContent = text;
  }

  function connect() {
    if (typeof io !== 'function') {
      setConn('error', 'No connection library');
      return;
    }
    const socket = io({ auth: { token: state.token }, reconnectionDelayMax: 5000 });
    state.socket = socket;
    setConn('connecting', 'Connecting…');
    socket.on('connect', () => {
      if (state.socket !== socket) return;
      setConn('connected', 'Live');
      // A recovered session replays what it missed; anything else starts from the server's list.
      if (!socket.recovered) load();
    });
    socket.on('disconnect', () => {
      if (state.socket === socket) setConn('reconnecting', 'Reconnecting…');
    });
    socket.on('connect_error', (err) => {
      if (state.socket !== socket) return;
      if (!socket.active) signedOut(err.message === 'unauthorized' ? 'The token was not accepted: sign in again.' : err.message);
      else setConn('reconnecting', 'Reconnecting…');
    });
    for (const ev of ['new-order', 'order-updated', 'order-deleted']) {
      socket.on(ev, (data) => {
        if (state.socket !== socket) return;
        if (state.loading) state.loading.push([ev, data]);
        else apply(ev, data, true);
      });
    }
  }

  // ---- the orders ---------------------------------------------------------------------

  /** Today in the server's zone, from the offset its timestamps carry (SPEC 11.11: never Z). */
  function serverToday(ts) {
    const m = /([+-])(\d\d):?(\d\d)$/.exec(typeof ts === 'string' ? ts : '');
    const off = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : -new Date().getTimezoneOffset();
    return new Date(Date.now() + off * 60000).toISOString().slice(0, 10);
  }

  async function loadSettings() {
    try {
      const s = await api('/api/v1/settings');
      if (s && Number.isFinite(s.board_ready_for_s) && s.board_ready_for_s > 0) state.readyForS = s.board_ready_for_s;
    } catch (e) {
      // An older server without /settings: the documented default.
    }
  }

  async function load() {
    state.loading = [];
    try {
      await loadSettings();
      // every date: an order still open from an earlier business day shows, with its date (SPEC 10.7)
      const list = await api('/api/v1/orders?status=new,preparing,ready&limit=1000');
      const seen = new Set();
      for (const o of list) {
        seen.add(o.invoice_number);
        // First seen ready from a list: it has been ready since its last change.
        if (o.status === 'ready' && !state.readySince.has(o.invoice_number)) {
          const t = Date.parse(o.updated_at);
          state.readySince.set(o.invoice_number, Number.isFinite(t) ? t : Date.now());
        } else if (o.status !== 'ready') {
          state.readySince.delete(o.invoice_number);
        }
        state.orders.set(o.invoice_number, o);
      }
      for (const inv of [...state.orders.keys(), ...state.readySince.keys()]) if (!seen.has(inv)) forget(inv);
      pub.loads++;
    } catch (e) {
      if (e.message !== 'unauthorized') setConn('error', `Could not load the orders (${e.message})`);
    } finally {
      const queued = state.loading || [];
      state.loading = null;
      for (const [ev, data] of queued) apply(ev, data, true);
      expire();
      render();
    }
  }

  function forget(inv) {
    state.orders.delete(inv);
    state.readySince.delete(inv);
  }

  function apply(ev, data, live) {
    if (!data || typeof data.invoice_number !== 'string') return;
    const inv = data.invoice_number;
    if (ev === 'order-deleted' || !SHOWN.includes(data.status)) {
      // a cancel or a void is said before the number leaves (SPEC 10.8); a completed one just goes
      if (live && (ev === 'order-deleted' || data.status === 'cancelled') && state.orders.has(inv)) {
        state.loud.set(inv, { order: state.orders.get(inv), kind: ev === 'order-deleted' ? 'voided' : 'cancelled', until: Date.now() + LOUD_MS });
        pub.bells++;
        if (window.kdsSound) window.kdsSound.bell(); // a cook or a customer must notice it
        setTimeout(render, LOUD_MS + 50);
      }
      forget(inv);
    } else {
      if (data.status === 'ready') {
        // A recall then ready again chimes again; a ready order whose note changed does not.
        if (!state.readySince.has(inv)) {
          state.readySince.set(inv, live ? Date.now() : Date.parse(data.updated_at) || Date.now());
          if (live) chime();
        }
      } else {
        state.readySince.delete(inv);
      }
      state.orders.set(inv, data);
    }
    expire();
    render();
  }

  /** Ready orders leave after readyForS; a later update that keeps them ready does not bring them back. */
  function expire() {
    const now = Date.now();
    let changed = false;
    for (const [inv, since] of state.readySince) {
      const o = state.orders.get(inv);
      if (o && o.status === 'ready' && now - since >= state.readyForS * 1000) {
        state.orders.delete(inv);
        changed = true; // readySince stays: the order is known to have been shown long enough
      }
    }
    return changed;
  }

  function label(o) {
    if (typeof o.customer_name === 'string' && o.customer_name.trim()) return { text: o.customer_name.trim(), name: true };
    const parts = String(o.invoice_number).split('-');
    return { text: parts[parts.length - 1], name: false };
  }

  function tile(o, col) {
    const l = label(o);
    const li = document.createElement('li');
    li.className = `tile${l.name ? ' is-name' : ''}`;
    li.dataset.invoice = o.invoice_number;
    li.dataset.status = o.status;
    if (col === 'ready') {
      const since = state.readySince.get(o.invoice_number) || 0;
      if (Date.now() - since < FRESH_MS) li.classList.add('fresh');
    }
    const span = document.createElement('span');
    span.className = 'label';
    span.textContent = l.text;
    let word = null;
    if (state.loud.has(o.invoice_number)) {
      li.classList.add('cancelled');
      li.dataset.status = 'cancelled';
      span.textContent = `✕ ${l.text}`;
      word = document.createElement('small');
      word.className = 'gone-word';
      word.textContent = state.loud.get(o.invoice_number).kind === 'voided' ? 'Voided' : 'Cancelled';
    }
    if (o.date && o.date !== serverToday(o.created_at)) {
      const day = document.createElement('small');
      day.className = 'day';
      day.textContent = o.date.slice(5); // MM-DD: from an earlier day
      li.append(day);
    }
    // A name longer than a number takes two tiles' width (fitNames shrinks what still overflows).
    if (l.name && [...l.text].length > 5) li.classList.add('wide');
    li.title = l.name ? `${l.text} · ${o.invoice_number}` : o.invoice_number;
    li.append(span);
    if (word) li.append(word);
    return li;
  }

  function render() {
    const now = Date.now();
    for (const [inv, l] of state.loud) if (l.until <= now || state.orders.has(inv)) state.loud.delete(inv);
    const all = [...state.orders.values(), ...[...state.loud.values()].map((l) => l.order)].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
    const cols = { preparing: all.filter((o) => o.status !== 'ready'), ready: all.filter((o) => o.status === 'ready') };
    for (const [col, list] of Object.entries(cols)) {
      $(col).replaceChildren(...list.map((o) => tile(o, col)));
      $(`${col}-count`).textContent = String(list.filter((o) => !state.loud.has(o.invoice_number)).length); // a cancelled one is not waiting
      fit($(col), list.length);
      fitNames($(col));
    }
  }

  /** A customer's whole name, smaller if need be, rather than a cut one. */
  function fitNames(list) {
    for (const label of list.querySelectorAll('.tile.is-name .label')) {
      let f = 1;
      label.style.fontSize = '';
      while (label.scrollWidth > label.clientWidth + 1 && f > 0.4) {
        f *= 0.92;
        label.style.fontSize = `${f.toFixed(3)}em`;
      }
    }
  }

  /** The largest type at which every tile of the column is on the screen: no scrollbars. */
  function fit(list, n) {
    let scale = n <= 2 ? 1.1 : 1;
    list.style.setProperty('--fit', String(scale));
    while (scale > 0.15 && list.scrollHeight > list.clientHeight + 1) {
      scale *= 0.9;
      list.style.setProperty('--fit', scale.toFixed(3));
    }
  }

  /** The chime (public/kds-sound.js); counted even where the page has no sound. */
  function chime() {
    pub.chimes++;
    if (window.kdsSound) window.kdsSound.chime();
  }

  function tick() {
    const now = new Date();
    $('clock').textContent = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
    const fresh = document.querySelector('#ready .tile.fresh');
    if (expire() || fresh) render();
  }

  function begin() {
    state.token = sessionStorage.getItem(TOKEN_KEY) || '';
    if (!state.token) {
      showSignin('');
      return;
    }
    connect();
  }

  window.addEventListener('resize', render);
  $('signin-form').addEventListener('submit', signin);
  setInterval(tick, 1000);

  takeUrlToken();
  tick();
  begin();
}());
