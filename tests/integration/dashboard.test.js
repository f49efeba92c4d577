'use strict';
// The POS dashboard (public/dashboard.html, SPEC 10.6) in headless Chromium at 1920x1080 and
// 1280x720: signed in as admin (token in the URL, then the login form), 50 orders posted and
// a few cancelled through the API; the page's figures must come to equal GET /api/v1/stats
// without a reload, a notification shows each new order, the Chart.js canvases are drawn and
// updated in place, a burst of events makes one GET of the stats, a cancel or a void rings the
// bell, and a reconnect re-fetches. Screenshots go to the test artifacts directory
// ($KDS_BUILD_DIR/test-artifacts/, tests/lib/browser.js).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, sampleOrder } = require('../lib/harness');
const { shutdown, postOrder, sleep } = require('../lib/wait');
const { launchBrowser } = require('../lib/browser');

const PAYMENTS = ['CASH', 'QRIS', 'CASH', 'CARD', 'EWALLET', 'QRIS', 'TRANSFER'];

/** The page's figures as the test reads them: data-value (raw) and the text shown. */
const figures = (page) => page.evaluate(() => Object.fromEntries(
  ['total-sales', 'order-count', 'avg-ticket', 'p90-ticket', 'late-count'].map((id) => {
    const n = document.getElementById(id);
    return [id, { raw: n.dataset.value, text: n.textContent.trim() }];
  })));

/** What the figures must be for these stats. */
function expected(s) {
  const raw = (v) => (v === null || v === undefined ? '' : String(v));
  return {
    'total-sales': raw(s.sales.total_amount),
    'order-count': raw(s.orders.total),
    'avg-ticket': raw(s.ticket_time.avg_s),
    'p90-ticket': raw(s.ticket_time.p90_s),
    'late-count': raw(s.ticket_time.late),
  };
}

describe('POS dashboard in headless Chromium', () => {
  let h;
  let browser;
  let adminToken;

  before(async () => {
    // A late threshold of 1 s makes some tickets late within the test.
    h = await start({ wsAuth: 'on', args: ['--late-after', '1'] });
    adminToken = await h.login('admin', 'admin-secret');
    browser = await launchBrowser({ viewport: { width: 1920, height: 1080 } });
  });

  after(async () => {
    if (browser) await browser.close();
    await shutdown(h);
  });

  const openPage = (size, query = '') => browser.newPage(`${h.url}/dashboard.html${query}`, size);

  async function stats() {
    const r = await h.api('GET', '/api/v1/stats', { token: adminToken });
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  /** Waits until the page shows what GET /api/v1/stats says (the page fetches after events). */
  async function settled(page, ms = 15000) {
    const until = Date.now() + ms;
    let s;
    let f;
    for (;;) {
      s = await stats();
      f = await figures(page);
      const want = expected(s);
      if (Object.keys(want).every((k) => f[k].raw === want[k])) break;
      if (Date.now() > until) assert.fail(`the page never matched the stats:\n${JSON.stringify(f)}\n${JSON.stringify(want)}`);
      await sleep(200);
    }
    for (const k of ['avg-ticket', 'p90-ticket']) {
      if (f[k].raw === '') assert.equal(f[k].text, '—', `${k} shows a dash while there is no ticket time`);
      else assert.match(f[k].text, /^\d+:\d\d(:\d\d)?$/, `${k} is a duration`);
    }
    assert.match(f['total-sales'].text, /^Rp\s?[\d.]+$/, 'Rupiah, id-ID grouping');
    return s;
  }

  /** Non-transparent pixels on a canvas: Chart.js drew something. */
  const inked = (page, id) => page.evaluate((cid) => {
    const c = document.getElementById(cid);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }, id);

  it('at 1920x1080 (token in the URL): 50 orders and some cancelled; figures equal the stats, notifications, charts', async () => {
    const page = await openPage([1920, 1080], `?token=${encodeURIComponent(adminToken)}`);
    await page.waitForSelector('#conn[data-state="connected"]');
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
    // Nothing yet: zeros and dashes.
    let s = await settled(page);
    assert.equal(s.ticket_time.avg_s, null);
    await page.evaluate(() => {
      window.notReloaded = true;
      window.firstCharts = ['hours-chart', 'payment-chart', 'category-chart'].map((id) => Chart.getChart(id));
    });

    const orders = [];
    for (let i = 0; i < 50; i++) {
      const items = [{ product_id: 1 + (i % 8), qty: 1 + (i % 3) }];
      if (i % 4 === 0) items.push({ product_id: 1 + ((i + 3) % 8), qty: 1 });
      const token = i % 5 === 4 ? h.tokens.kasir2 : h.tokens.kasir1; // two outlets: an admin sees both
      orders.push(await postOrder(h, token, sampleOrder(items, { payment_method: PAYMENTS[i % PAYMENTS.length] })));
    }
    const lastInv = orders[orders.length - 1].invoice_number;
    // The newest notification is on screen as a toast and in the feed.
    await page.waitForSelector(`#toasts .toast[data-invoice="${lastInv}"]`);
    assert.equal((await page.textContent(`#toasts .toast[data-invoice="${lastInv}"] strong`)).trim(), `New order: ${lastInv}`);
    await page.waitForSelector(`#feed li[data-invoice="${lastInv}"]`);
    await page.waitForFunction(() => window.kdsDashboard.notifications === 50);

    // Some fast tickets, some late ones (> 1 s), some cancelled, one voided.
    const dapur = (o) => (o.outlet_id === 2 ? h.tokens.dapur2 : h.tokens.dapur1);
    const kasir = (o) => (o.outlet_id === 2 ? h.tokens.kasir2 : h.tokens.kasir1);
    const patch = async (o, status, token) => {
      const r = await h.api('PATCH', `/api/v1/orders/${o.invoice_number}/status`, { token, body: { status } });
      assert.equal(r.status, 200, `${o.invoice_number} → ${status}: ${r.status} ${r.text}`);
    };
    for (const o of orders.slice(0, 10)) await patch(o, 'ready', dapur(o));
    await sleep(1200);
    for (const o of orders.slice(10, 20)) await patch(o, 'ready', dapur(o));
    for (const o of orders.slice(0, 15)) await patch(o, 'completed', kasir(o));
    for (const o of orders.slice(40, 45)) await patch(o, 'cancelled', kasir(o));
    assert.equal((await h.api('DELETE', `/api/v1/orders/${orders[49].invoice_number}`, { token: h.tokens.admin })).status, 204);

    // Each cancel and the void: a red alert that names it, and the bell (public/kds-sound.js).
    await page.waitForFunction(() => window.kdsDashboard.alerts === 6);
    const loud = await page.evaluate(() => ({
      bell: window.kdsSound.played.bell,
      audio: window.kdsSound.log.filter((x) => x.kind === 'bell').map((x) => x.audio),
      toasts: [...document.querySelectorAll('#toasts .toast.loud')].map((n) => [n.dataset.kind, n.dataset.invoices,
        n.querySelector('strong').textContent, n.querySelector('span').textContent]),
      shown: document.querySelectorAll('#toasts .toast').length,
    }));
    assert.equal(loud.bell, 6, 'one bell per cancel or void');
    assert.ok(loud.audio.every((a) => a !== 'none' && a !== 'error'), `WebAudio played: ${loud.audio}`);
    // One toast per kind, naming every order: the burst of cancels does not cover the page.
    const last4 = (o) => o.invoice_number.split('-')[2];
    assert.deepStrictEqual(loud.toasts, [
      ['voided', lastInv, `Voided: ${lastInv}`, 'stop making it'],
      ['cancelled', orders.slice(40, 45).map((o) => o.invoice_number).join(' '), 'Cancelled: 5 orders',
        orders.slice(40, 45).reverse().map(last4).join(' · ')],
    ]);
    assert.ok(loud.shown <= 3, `at most 3 toasts: ${loud.shown}`);

    s = await settled(page);
    assert.equal(s.orders.total, 49);
    assert.equal(s.orders.cancelled, 5);
    assert.ok(s.ticket_time.count === 20 && s.ticket_time.late >= 10, JSON.stringify(s.ticket_time));
    assert.notEqual(s.ticket_time.avg_s, null);

    // The charts are the same Chart.js objects, redrawn with the stats' numbers.
    const charts = await page.evaluate(() => {
      const now = ['hours-chart', 'payment-chart', 'category-chart'].map((id) => Chart.getChart(id));
      return {
        same: now.every((c, i) => c && c === window.firstCharts[i]),
        notReloaded: window.notReloaded === true,
        hours: now[0].data.datasets[0].data.reduce((a, b) => a + b, 0),
        pay: Object.fromEntries(now[1].data.datasets[0].data.map((v, i) => [now[1].data.labels[i].split(' ')[0], v])),
        cat: now[2].data.labels.map((name, i) => [name, now[2].data.datasets[0].data[i]]),
      };
    });
    assert.ok(charts.same && charts.notReloaded, 'updated in place, no reload');
    assert.equal(charts.hours, s.hours.reduce((a, x) => a + x.orders, 0));
    assert.deepStrictEqual(charts.pay, Object.fromEntries(Object.entries(s.sales.by_payment_method).filter(([, v]) => v > 0)));
    assert.deepStrictEqual(charts.cat, s.categories.map((c) => [c.name, c.total_amount]));
    await sleep(500); // the charts' short animation
    for (const id of ['hours-chart', 'payment-chart', 'category-chart']) {
      assert.ok(await inked(page, id) > 2000, `${id} has pixels drawn`);
    }

    const fit = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: innerWidth }));
    assert.ok(fit.sw <= fit.iw, `no horizontal scrollbar: ${JSON.stringify(fit)}`);
    await browser.screenshot(page, 'dashboard-1920x1080');
    await page.close();
    assert.deepStrictEqual(browser.errors, []);
  });

  it('at 1280x720 (login form): the same figures; a reconnect re-fetches what it missed', async () => {
    const page = await openPage([1280, 720]);
    await page.waitForSelector('#signin:not([hidden])');
    await page.fill('#login-username', 'admin');
    await page.fill('#login-password', 'admin-secret');
    await page.click('#login-btn');
    await page.waitForSelector('#conn[data-state="connected"]');
    assert.ok(await page.evaluate(() => sessionStorage.getItem('kds.token')), 'the token is kept in sessionStorage');
    await settled(page);
    await sleep(800); // a fetch asked for by the sign-in and the connect together may still follow

    // Orders and a cancel while the socket is down: the reconnect's fetch brings them in.
    await page.evaluate(() => window.kdsDashboard.socket.disconnect());
    await page.waitForFunction(() => !window.kdsDashboard.socket.connected);
    const a = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 2, qty: 5 }], { payment_method: 'TRANSFER' }));
    await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 4, qty: 2 }]));
    assert.equal((await h.api('PATCH', `/api/v1/orders/${a.invoice_number}/status`,
      { token: h.tokens.kasir1, body: { status: 'cancelled' } })).status, 200);
    await sleep(500);
    const before = await figures(page);
    const now = expected(await stats());
    assert.notEqual(before['order-count'].raw, now['order-count'], 'missed while disconnected');
    await page.evaluate(() => window.kdsDashboard.socket.connect());
    await page.waitForSelector('#conn[data-state="connected"]');
    await settled(page);

    // And live again after it.
    const b = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 1, qty: 1 }]));
    await page.waitForSelector(`#feed li[data-invoice="${b.invoice_number}"]`);
    await settled(page);
    // A burst of events (20 orders at once, then 5 of them cancelled) makes one GET of the
    // stats after it, not one per event, and the figures are still exact after it.
    await sleep(800);
    let gets = 0;
    const countGets = (req) => { if (new URL(req.url()).pathname === '/api/v1/stats') gets++; };
    page.on('request', countGets);
    const fetches = await page.evaluate(() => window.kdsDashboard.fetches);
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => postOrder(h, i % 2 ? h.tokens.kasir1 : h.tokens.kasir2,
      sampleOrder([{ product_id: 1 + (i % 8), qty: 1 + (i % 2) }], { payment_method: PAYMENTS[i % PAYMENTS.length] }))));
    await Promise.all(burst.slice(0, 5).map((o) => h.api('PATCH', `/api/v1/orders/${o.invoice_number}/status`,
      { token: o.outlet_id === 2 ? h.tokens.kasir2 : h.tokens.kasir1, body: { status: 'cancelled' } })
      .then((r) => assert.equal(r.status, 200, r.text))));
    await page.waitForFunction((n) => window.kdsDashboard.notifications >= n, 20);
    const s = await settled(page);
    await sleep(1000); // a second fetch, if the page made one, has had time to start
    page.off('request', countGets);
    assert.equal(gets, 1, 'one GET /api/v1/stats for the whole burst');
    assert.equal(await page.evaluate(() => window.kdsDashboard.fetches), fetches + 1);
    assert.deepStrictEqual(expected(await stats()), expected(s), 'nothing moved after the burst');

    await sleep(500);
    assert.ok(await inked(page, 'payment-chart') > 1000);
    const fit = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: innerWidth }));
    assert.ok(fit.sw <= fit.iw, `no horizontal scrollbar: ${JSON.stringify(fit)}`);
    await browser.screenshot(page, 'dashboard-1280x720');
    await page.close();
    assert.deepStrictEqual(browser.errors, []);
  });
});
