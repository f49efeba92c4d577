/* POS dashboard (SPEC 10.6): today's sales and speed of service from GET /api/v1/stats,
 * refreshed on every order event over Socket.IO, with a notification per new order.
 * Server data goes into the page only as textContent. Charts: Chart.js from /vendor/. */
(function () {
  'use strict';

  const TOKEN_KEY = 'kds.token';
  const USER_KEY = 'kds.user';
  const DEBOUNCE_MS = 300;
  const REFRESH_MS = 60000; // the hour axis and the date move on even when nobody orders
  const TOAST_MS = 8000;
  const FEED_MAX = 12;
  const PAY_COLORS = { CASH: '#16a34a', QRIS: '#2563eb', CARD: '#9333ea', TRANSFER: '#ea580c', EWALLET: '#0891b2' };
  const PALETTE = ['#2563eb', '#16a34a', '#ea580c', '#9333ea', '#0891b2', '#db2777', '#ca8a04', '#4b5563'];

  const $ = (id) => document.getElementById(id);
  const idr = new Intl.NumberFormat('id-ID', { style: 'currency', currency: 'IDR', maximumFractionDigits: 0 });
  const num = new Intl.NumberFormat('id-ID');
  const rp = (n) => idr.format(n);

  const state = {
    token: '',
    user: null,
    socket: null,
    timer: null,
    inFlight: false,
    again: false,
    charts: {},
    stats: null,
  };
  // For tests: how many notifications and fetches the page made, and the last stats it drew.
  const pub = { notifications: 0, fetches: 0, draws: 0, get stats() { return state.stats; }, get socket() { return state.socket; } };
  window.kdsDashboard = pub;

  function readJson(t) {
    try { return t ? JSON.parse(t) : null; } catch (e) { return null; }
  }

  // ---- sign-in ------------------------------------------------------------------------

  function takeUrlToken() {
    const url = new URL(location.href);
    const t = url.searchParams.get('token');
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    sessionStorage.removeItem(USER_KEY);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }

  function showSignin(msg) {
    $('signin').hidden = false;
    $('signout-btn').hidden = true;
    $('login-msg').textContent = msg || '';
    setConn('refused', 'Not signed in');
    setTimeout(() => $('login-username').focus(), 0);
  }

  async function login(ev) {
    ev.preventDefault();
    const token = $('token-input').value.trim();
    if (token) {
      $('token-input').value = '';
      useToken(token, null);
      return;
    }
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    if (!username || !password) {
      $('login-msg').textContent = 'Enter a username and a password.';
      return;
    }
    $('login-btn').disabled = true;
    try {
      const res = await fetch('/api/v1/auth/login', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }),
      });
      const body = readJson(await res.text());
      if (!res.ok) {
        $('login-msg').textContent = res.status === 401 ? 'Wrong username or password.'
          : `Sign-in failed: ${(body && body.error && body.error.message) || `HTTP ${res.status}`}`;
        return;
      }
      $('login-password').value = '';
      useToken(body.token, Object.assign({}, body.user, { expires_at: body.expires_at }));
    } catch (e) {
      $('login-msg').textContent = 'The server cannot be reached.';
    } finally {
      $('login-btn').disabled = false;
    }
  }

  function useToken(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (user) sessionStorage.setItem(USER_KEY, JSON.stringify(user));
    else sessionStorage.removeItem(USER_KEY);
    $('signin').hidden = true;
    $('login-msg').textContent = '';
    begin();
  }

  async function signout() {
    if (state.user && state.user.expires_at) {
      // A login session is revoked on the server; a device token is only forgotten here.
      try { await fetch('/api/v1/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${state.token}` } }); } catch (e) { /* forgotten anyway */ }
    }
    signedOut('Signed out.');
  }

  function signedOut(msg) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    state.token = '';
    if (state.socket) {
      state.socket.disconnect();
      state.socket = null;
    }
    showSignin(msg);
  }

  // ---- connection ---------------------------------------------------------------------

  function setConn(name, text) {
    $('conn').dataset.state = name;
    $('conn-text').textContent = text;
  }

  function connect() {
    if (typeof io !== 'function') {
      setConn('error', 'No Socket.IO client');
      return;
    }
    const socket = io({ auth: { token: state.token }, reconnectionDelayMax: 5000 });
    state.socket = socket;
    setConn('connecting', 'Connecting…');
    socket.on('connect', () => {
      if (state.socket !== socket) return;
      setConn('connected', 'Live');
      // Whatever happened while the link was down is in the figures only after a fetch.
      schedule(0);
    });
    socket.on('disconnect', (reason) => {
      if (state.socket === socket) setConn('reconnecting', `Reconnecting… (${reason})`);
    });
    socket.on('connect_error', (err) => {
      if (state.socket !== socket) return;
      if (!socket.active) signedOut(err.message === 'unauthorized' ? 'The token was not accepted: sign in again.' : err.message);
      else setConn('reconnecting', 'Reconnecting…');
    });
    socket.on('new-order', (order) => {
      if (state.socket !== socket) return;
      notify(order);
      schedule(DEBOUNCE_MS);
    });
    for (const ev of ['order-updated', 'order-deleted']) {
      socket.on(ev, (data) => {
        if (state.socket !== socket) return;
        // a cancel or a void is said out loud (SPEC 10.8), not only counted
        if (data && typeof data.invoice_number === 'string' && (ev === 'order-deleted' || data.status === 'cancelled')) {
          alertLoud(ev === 'order-deleted' ? 'voided' : 'cancelled', data.invoice_number);
        }
        schedule(DEBOUNCE_MS);
      });
    }
  }

  // ---- stats ----------------------------------------------------------------------------

  /** One fetch per burst of events; an event during a fetch makes one more fetch after it. */
  function schedule(ms) {
    if (state.inFlight) {
      state.again = true;
      return;
    }
    clearTimeout(state.timer);
    state.timer = setTimeout(fetchStats, ms);
  }

  function banner(text) {
    $('banner').hidden = !text;
    $('banner').textContent = text || '';
  }

  async function fetchStats() {
    if (!state.token) return;
    state.inFlight = true;
    state.again = false;
    pub.fetches++;
    try {
      const res = await fetch('/api/v1/stats', { headers: { Authorization: `Bearer ${state.token}` } });
      const body = readJson(await res.text());
      if (res.status === 401) {
        signedOut('Your session has ended or the token is not valid. Sign in again.');
        return;
      }
      if (!res.ok) {
        banner(res.status === 404 ? 'This server has no /api/v1/stats: update kds-server.'
          : `Could not load the figures: ${(body && body.error && body.error.message) || `HTTP ${res.status}`}`);
        return;
      }
      banner('');
      state.stats = body;
      draw(body);
    } catch (e) {
      banner('The server cannot be reached; the figures are from the last update.');
    } finally {
      state.inFlight = false;
      if (state.again) schedule(DEBOUNCE_MS);
    }
  }

  function fmtDuration(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return '—';
    const t = Math.round(s);
    const h = Math.floor(t / 3600);
    const m = Math.floor((t % 3600) / 60);
    const sec = t % 60;
    const two = (n) => String(n).padStart(2, '0');
    return h ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
  }

  function setFigure(id, raw, text) {
    const node = $(id);
    node.dataset.value = raw === null || raw === undefined ? '' : String(raw);
    node.textContent = text;
    fitText(node);
  }

  /** A big day's sales must show whole: the figure's type shrinks until it fits its card. */
  function fitText(node) {
    node.style.fontSize = '';
    let size = parseFloat(getComputedStyle(node).fontSize);
    while (node.scrollWidth > node.clientWidth + 1 && size > 12) {
      size *= 0.92;
      node.style.fontSize = `${size}px`;
    }
  }

  function draw(s) {
    const orders = s.orders || {};
    const sales = s.sales || {};
    const tt = s.ticket_time || {};
    const open = (orders.new || 0) + (orders.preparing || 0) + (orders.ready || 0);

    const d = s.date ? new Date(`${s.date}T12:00:00`) : null;
    $('stats-date').textContent = d && !Number.isNaN(d.getTime())
      ? d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }) : (s.date || '–');
    $('stats-outlet').textContent = s.outlet_id ? `outlet ${s.outlet_id}` : 'all outlets';

    setFigure('total-sales', sales.total_amount, rp(sales.total_amount || 0));
    const sold = (orders.total || 0) - (orders.cancelled || 0);
    $('total-sales-note').textContent = sold > 0 ? `${rp(Math.round((sales.total_amount || 0) / sold))} per order` : 'no sales yet';
    setFigure('order-count', orders.total, num.format(orders.total || 0));
    $('order-count-note').textContent = `${num.format(open)} open · ${num.format(orders.cancelled || 0)} cancelled`;
    setFigure('avg-ticket', tt.avg_s, fmtDuration(tt.avg_s));
    $('avg-ticket-note').textContent = tt.count ? `median ${fmtDuration(tt.p50_s)} · ${num.format(tt.count)} tickets` : 'no ticket ready yet';
    setFigure('p90-ticket', tt.p90_s, fmtDuration(tt.p90_s));
    setFigure('late-count', tt.late, num.format(tt.late || 0));
    $('late-count-note').textContent = `ready after ${fmtDuration(tt.late_after_s)}`;
    $('late-card').classList.toggle('is-late', (tt.late || 0) > 0);

    drawCharts(s);
    $('updated').textContent = `Updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
    pub.draws++;
  }

  // ---- charts ---------------------------------------------------------------------------

  function chartsReady() {
    if (typeof Chart !== 'function') {
      banner('The chart library (/vendor/chart.umd.js) did not load: figures only.');
      return false;
    }
    if (state.charts.hours) return true;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 13;
    Chart.defaults.color = '#4b5563';
    Chart.defaults.animation.duration = 350;
    Chart.defaults.maintainAspectRatio = false;
    const money = (v) => rp(v);
    state.charts.hours = new Chart($('hours-chart'), {
      type: 'bar',
      data: {
        labels: [],
        datasets: [
          { type: 'bar', label: 'Orders', data: [], backgroundColor: '#2563eb', borderRadius: 4, maxBarThickness: 72, yAxisID: 'y', order: 2 },
          { type: 'line', label: 'Sales', data: [], borderColor: '#16a34a', backgroundColor: '#16a34a', cubicInterpolationMode: 'monotone', pointRadius: 3, yAxisID: 'y1', order: 1 },
        ],
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { position: 'top', align: 'end', labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (c) => (c.dataset.yAxisID === 'y1' ? `Sales: ${money(c.parsed.y)}` : `Orders: ${c.parsed.y}`) } },
        },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'orders' } },
          y1: { beginAtZero: true, position: 'right', grid: { display: false }, ticks: { callback: (v) => (v >= 1000 ? `${num.format(v / 1000)}k` : v) } },
        },
      },
    });
    state.charts.payment = new Chart($('payment-chart'), {
      type: 'doughnut',
      data: { labels: [], datasets: [{ data: [], backgroundColor: [], borderWidth: 2 }] },
      options: {
        cutout: '58%',
        plugins: {
          legend: { position: 'right', labels: { boxWidth: 14, padding: 12 } },
          tooltip: { callbacks: { label: (c) => `${c.label}: ${money(c.parsed)}` } },
        },
      },
    });
    state.charts.category = new Chart($('category-chart'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'Sales', data: [], backgroundColor: [], borderRadius: 4, maxBarThickness: 48, quantities: [] }] },
      options: {
        indexAxis: 'y',
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (c) => `${money(c.parsed.x)} · ${c.dataset.quantities[c.dataIndex]} items` } },
        },
        scales: {
          x: { beginAtZero: true, ticks: { callback: (v) => (v >= 1000 ? `${num.format(v / 1000)}k` : v) } },
          y: { grid: { display: false } },
        },
      },
    });
    return true;
  }

  function drawCharts(s) {
    if (!chartsReady()) return;
    const two = (n) => String(n).padStart(2, '0');

    // Every hour from the first order (or now) to now, with the quiet hours as zeros.
    const hours = Array.isArray(s.hours) ? s.hours : [];
    const byHour = new Map(hours.map((h) => [h.hour, h]));
    const nowHour = new Date().getHours();
    const known = hours.map((h) => h.hour);
    const first = known.length ? Math.min(...known) : nowHour;
    const last = Math.max(known.length ? Math.max(...known) : nowHour, s.date === localDate() ? nowHour : first);
    const hc = state.charts.hours;
    hc.data.labels = [];
    hc.data.datasets[0].data = [];
    hc.data.datasets[1].data = [];
    for (let h = first; h <= last; h++) {
      hc.data.labels.push(`${two(h)}:00`);
      hc.data.datasets[0].data.push(byHour.has(h) ? byHour.get(h).orders : 0);
      hc.data.datasets[1].data.push(byHour.has(h) ? byHour.get(h).total_amount : 0);
    }
    hc.update();

    const pay = Object.entries((s.sales && s.sales.by_payment_method) || {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    const pc = state.charts.payment;
    pc.data.labels = pay.map(([k, v]) => `${k} ${rp(v)}`);
    pc.data.datasets[0].data = pay.map(([, v]) => v);
    pc.data.datasets[0].backgroundColor = pay.map(([k], i) => PAY_COLORS[k] || PALETTE[i % PALETTE.length]);
    pc.update();

    const cats = Array.isArray(s.categories) ? s.categories : [];
    const cc = state.charts.category;
    cc.data.labels = cats.map((c) => c.name);
    cc.data.datasets[0].data = cats.map((c) => c.total_amount);
    cc.data.datasets[0].quantities = cats.map((c) => c.quantity);
    cc.data.datasets[0].backgroundColor = cats.map((c, i) => PALETTE[i % PALETTE.length]);
    cc.update();
  }

  function localDate(d = new Date()) {
    const two = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
  }

  // ---- notifications --------------------------------------------------------------------

  /** At most 2 toasts on a short screen, 3 on a tall one (they sit over the feed's oldest rows);
   * the new-order ones go first, a cancel or void stays its time. */
  function trimToasts() {
    const box = $('toasts');
    const max = innerHeight < 900 ? 2 : 3;
    while (box.children.length > max) {
      const plain = [...box.children].reverse().find((t) => !t.classList.contains('loud'));
      (plain || box.lastElementChild).remove();
    }
  }

  /** A cancel or a void: a red toast and the bell (public/kds-sound.js). Several of a kind in a
   * row share one toast that lists them all (data-invoices), so a burst does not cover the page. */
  function alertLoud(kind, invoice) {
    pub.alerts = (pub.alerts || 0) + 1;
    if (window.kdsSound) window.kdsSound.bell();
    const box = $('toasts');
    let toast = box.querySelector(`.toast.loud[data-kind="${kind}"]`);
    if (!toast) {
      toast = document.createElement('li');
      toast.className = 'toast loud';
      toast.dataset.kind = kind;
      toast.dataset.invoices = '';
      toast.setAttribute('role', 'alert');
      toast.append(document.createElement('strong'), document.createElement('span'));
    }
    const list = toast.dataset.invoices ? toast.dataset.invoices.split(' ') : [];
    list.push(invoice);
    toast.dataset.invoices = list.join(' ');
    toast.dataset.invoice = invoice;
    const word = kind === 'voided' ? 'Voided' : 'Cancelled';
    toast.querySelector('strong').textContent = list.length === 1 ? `${word}: ${invoice}` : `${word}: ${list.length} orders`;
    // the other numbers by their last part, newest first: "0045 · 0044 · 0043"
    toast.querySelector('span').textContent = list.length === 1 ? 'stop making it'
      : list.slice().reverse().map((inv) => inv.split('-').pop()).join(' · ');
    box.prepend(toast);
    trimToasts();
    clearTimeout(toast.kdsTimer);
    toast.kdsTimer = setTimeout(() => toast.remove(), TOAST_MS);
  }

  function notify(order) {
    if (!order || typeof order.invoice_number !== 'string') return;
    const text = `New order: ${order.invoice_number}`;
    const amount = typeof order.total_amount === 'number' ? rp(order.total_amount) : '';
    const time = new Date().toLocaleTimeString([], { hour12: false });
    pub.notifications++;

    const toast = document.createElement('li');
    toast.className = 'toast';
    toast.dataset.invoice = order.invoice_number;
    const strong = document.createElement('strong');
    strong.textContent = text;
    const small = document.createElement('span');
    small.textContent = [amount, order.payment_method, order.customer_name || (order.table ? `table ${order.table}` : '')].filter(Boolean).join(' · ');
    toast.append(strong, small);
    $('toasts').prepend(toast);
    trimToasts();
    setTimeout(() => toast.classList.add('leaving'), TOAST_MS - 400);
    setTimeout(() => toast.remove(), TOAST_MS);

    const li = document.createElement('li');
    li.dataset.invoice = order.invoice_number;
    const t = document.createElement('time');
    t.textContent = time;
    const inv = document.createElement('span');
    inv.className = 'inv';
    inv.textContent = order.invoice_number;
    const amt = document.createElement('span');
    amt.className = 'amt';
    amt.textContent = amount;
    const pm = document.createElement('span');
    pm.className = 'pm';
    pm.textContent = order.payment_method || '';
    li.append(t, inv, pm, amt);
    const feed = $('feed');
    feed.prepend(li);
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
    $('feed-empty').hidden = true;

    if ('Notification' in window && Notification.permission === 'granted') {
      try {
        new Notification(text, { body: small.textContent, tag: order.invoice_number }); // eslint-disable-line no-new
      } catch (e) { /* some browsers allow notifications only from a service worker */ }
    }
  }

  function offerNotifications() {
    const b = $('notify-btn');
    b.hidden = !('Notification' in window) || Notification.permission !== 'default';
    b.onclick = async () => {
      try { await Notification.requestPermission(); } catch (e) { /* refused */ }
      offerNotifications();
    };
  }

  // ---- start ------------------------------------------------------------------------------

  function begin() {
    state.token = sessionStorage.getItem(TOKEN_KEY) || '';
    state.user = readJson(sessionStorage.getItem(USER_KEY));
    if (!state.token) {
      showSignin('');
      return;
    }
    $('signout-btn').hidden = false;
    if (state.socket) state.socket.disconnect();
    connect();
    schedule(0);
  }

  window.addEventListener('resize', () => {
    for (const id of ['total-sales', 'order-count', 'avg-ticket', 'p90-ticket', 'late-count']) fitText($(id));
  });
  $('login-form').addEventListener('submit', login);
  $('signout-btn').addEventListener('click', signout);
  setInterval(() => { if (state.token) schedule(0); }, REFRESH_MS);
  offerNotifications();
  takeUrlToken();
  begin();
}());
