'use strict';
// The browser test client (public/websocket-test.html) in headless Chromium: Debian's
// /usr/bin/chromium driven by playwright-core (no browser download). It signs in, connects
// over Socket.IO (the server's /socket.io/socket.io.js), shows an order posted by the test
// as a card, changes its status with a button, posts an order with its form, and leaves a
// screenshot in $KDS_BUILD_DIR/screenshots/.
//
// By default against our kds-server (KDS_SERVER_BIN); KDS_TARGET=node for the Node reference.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { io } = require('socket.io-client');
const { start, sampleOrder, SOURCE_DIR } = require('../lib/harness');
const { shutdown, escapeRe } = require('../lib/wait');

const CHROMIUM = process.env.KDS_CHROMIUM || '/usr/bin/chromium';
const BUILD_DIR = process.env.KDS_BUILD_DIR || path.join(SOURCE_DIR, 'build');
const SHOTS = path.join(BUILD_DIR, 'screenshots');
const WAIT = 10000;

/** A port that was free a moment ago (for a server that must come back on the same port). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function postOrder(h, token, body) {
  const r = await h.api('POST', '/api/v1/orders', { token, body });
  assert.equal(r.status, 201, `POST /api/v1/orders: ${r.status} ${r.text}`);
  return r.json;
}

describe('browser test client in headless Chromium', () => {
  let h;
  let context;
  let profile;
  const pageErrors = [];

  before(async () => {
    // No silent skip: scripts/deps.sh --tests installs Debian's chromium.
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package chromium (scripts/deps.sh --tests)`);
    h = await start({ wsAuth: 'on' });
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1440, height: 960 },
      colorScheme: 'light',
      timezoneId: 'Asia/Jakarta',
    });
    context.setDefaultTimeout(WAIT);
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    if (context) await context.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await shutdown(h);
  });

  /** A new tab (its own sessionStorage) with JavaScript errors collected. */
  async function openPage() {
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    // "Failed to load resource" repeats a response status: those are checked per URL below.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/^Failed to load resource/.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() === 404 || res.status() >= 500) pageErrors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
      if (process.env.KDS_TEST_VERBOSE && res.status() >= 400) console.error(`${res.status()} ${res.request().method()} ${res.url()}`);
    });
    await page.goto(`${h.url}/websocket-test.html`);
    return page;
  }

  const cardSel = (inv) => `article.card[data-invoice="${inv}"]`;

  it('signs in, connects, shows a posted order as a card, and a status button works', async () => {
    const page = await openPage();
    assert.equal(await page.title(), 'KDS live feed · WebSocket test client');

    // No token yet: the server refuses the socket (--ws-auth on) and the page says why.
    await page.waitForSelector('#conn[data-state="refused"]');
    assert.match(await page.textContent('#conn'), /Refused[\s\S]*unauthorized/);

    await page.fill('#login-username', 'dapur1');
    await page.fill('#login-password', 'kitchen-secret');
    await page.click('#login-btn');
    await page.waitForSelector('#conn[data-state="connected"]');
    assert.match(await page.textContent('#who-name'), /dapur1/);
    assert.match(await page.textContent('#who-role'), /kitchen · outlet 1/);
    const token = await page.evaluate(() => sessionStorage.getItem('kds.token'));
    assert.ok(token && token.length >= 20, 'the token is kept in sessionStorage');

    // The socket id on the page is the one the server logs; the transport upgrades to WebSocket.
    const sid = (await page.textContent('#socket-id')).trim();
    assert.match(sid, /^[\w-]+$/);
    await h.waitForLog(new RegExp(`Client connected: ${escapeRe(sid)}`));
    await page.waitForFunction(() => document.getElementById('transport').textContent === 'websocket');

    // An order posted by the till appears as a card: invoice, status, category groups with quantities.
    const order = await postOrder(h, h.tokens.kasir1, sampleOrder(
      [{ product_id: 1, qty: 1 }, { product_id: 3, qty: 2 }, { product_id: 5, qty: 1 }, { product_id: 6, qty: 1 }, { product_id: 7, qty: 3 }],
      { note: 'no onion, extra sauce' },
    ));
    const inv = order.invoice_number;
    const card = page.locator(cardSel(inv));
    await card.waitFor();
    assert.equal((await card.locator('h3').textContent()).trim(), inv);
    assert.equal(await card.getAttribute('data-status'), 'new');
    const groups = await card.locator('.group').evaluateAll((nodes) => nodes.map((g) => ({
      name: g.querySelector('h4 span').textContent,
      lines: [...g.querySelectorAll('li')].map((li) => li.textContent.replace(/\s+/g, ' ').trim()),
    })));
    assert.deepStrictEqual(groups, [
      { name: 'ISI CORNDOG', lines: ['1× Corndog Sosis'] },
      { name: 'BALUTAN', lines: ['2× Mie'] },
      { name: 'SAUS ASIN', lines: ['1× Saus Tomat', '1× Mayonaise'] },
      { name: 'SAUS MANIS', lines: ['3× Coklat'] },
    ]);
    assert.match(await card.locator('.note').textContent(), /no onion, extra sauce/);
    assert.equal(order.total_amount, 15000);
    assert.match(await card.locator('.total').textContent(), /Rp\s?15\.000/);
    // The event log shows the new-order event.
    await page.waitForFunction((i) => [...document.querySelectorAll('#log .ev-in')]
      .some((li) => li.querySelector('.ev-name').textContent === 'new-order' && li.textContent.includes(i)), inv);

    // "Start" goes through the order-status event and its acknowledgement.
    await card.locator('button[data-action="preparing"]').click();
    await page.waitForSelector(`${cardSel(inv)}[data-status="preparing"]`);
    let r = await h.api('GET', `/api/v1/orders/${inv}`, { token: h.tokens.admin });
    assert.equal(r.json.status, 'preparing');
    await page.waitForFunction(() => [...document.querySelectorAll('#log .ev-in .ev-name')]
      .some((n) => n.textContent === 'ack order-status'));

    // "Ready" through REST PATCH instead.
    await page.check('input[name="via"][value="rest"]');
    await card.locator('button[data-action="ready"]').click();
    await page.waitForSelector(`${cardSel(inv)}[data-status="ready"]`);
    r = await h.api('GET', `/api/v1/orders/${inv}`, { token: h.tokens.admin });
    assert.equal(r.json.status, 'ready');
    await page.check('input[name="via"][value="socket"]');

    // A change made elsewhere (another screen) arrives as order-updated.
    const other = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 2, qty: 2 }, { product_id: 8, qty: 1 }]));
    await page.locator(cardSel(other.invoice_number)).waitFor();
    const patched = await h.api('PATCH', `/api/v1/orders/${other.invoice_number}/status`,
      { token: h.tokens.dapur1, body: { status: 'preparing' } });
    assert.equal(patched.status, 200);
    await page.waitForSelector(`${cardSel(other.invoice_number)}[data-status="preparing"]`);

    // A voided order leaves the board (order-deleted).
    const voided = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 4, qty: 1 }]));
    await page.locator(cardSel(voided.invoice_number)).waitFor();
    assert.equal((await h.api('DELETE', `/api/v1/orders/${voided.invoice_number}`, { token: h.tokens.admin })).status, 204);
    await page.locator(cardSel(voided.invoice_number)).waitFor({ state: 'detached' });

    // One more fresh order for the picture, then the screenshot.
    const third = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 1, qty: 2 }, { product_id: 2, qty: 1 }, { product_id: 5, qty: 2 }, { product_id: 8, qty: 1 }], { payment_method: 'QRIS' }));
    await page.locator(cardSel(third.invoice_number)).waitFor();
    const shot = path.join(SHOTS, 'websocket-test.png');
    await page.screenshot({ path: shot, fullPage: false, animations: 'disabled' });
    assert.ok(fs.statSync(shot).size > 10000, 'a screenshot was written');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(SHOTS, 'websocket-test-narrow.png'), fullPage: false, animations: 'disabled' });

    // Reloading the tab keeps the session (sessionStorage) and loads the open queue over REST.
    await page.setViewportSize({ width: 1440, height: 960 });
    await page.reload();
    await page.waitForSelector('#conn[data-state="connected"]');
    await page.locator(cardSel(inv)).waitFor();
    assert.equal(await page.locator(cardSel(inv)).getAttribute('data-status'), 'ready');
    await page.close();
    assert.deepStrictEqual(pageErrors, []);
  });

  it('shows a refused status change on the card (a cashier device token may not start an order)', async () => {
    const page = await openPage();
    await page.waitForSelector('#conn[data-state="refused"]');
    // A pasted device token: the page does not know its role, so it offers every transition.
    await page.click('.token-box summary');
    await page.fill('#token-input', h.tokens.kasir1);
    await page.click('#token-btn');
    await page.waitForSelector('#conn[data-state="connected"]');
    assert.match(await page.textContent('#who-name'), /Device token/);

    const order = await postOrder(h, h.tokens.kasir1, sampleOrder());
    const card = page.locator(cardSel(order.invoice_number));
    await card.waitFor();
    await card.locator('button[data-action="preparing"]').click();
    await card.locator('.card-error').waitFor();
    assert.match(await card.locator('.card-error').textContent(), /forbidden/);
    assert.equal(await card.getAttribute('data-status'), 'new');
    const acks = () => page.evaluate(() => [...document.querySelectorAll('#log .ev-name')]
      .filter((n) => n.textContent === 'ack order-status').length);
    assert.equal(await acks(), 1);
    await card.locator('button[data-action="ready"]').click();
    await page.waitForFunction(() => [...document.querySelectorAll('#log .ev-name')]
      .filter((n) => n.textContent === 'ack order-status').length === 2);
    await page.waitForFunction((sel) => /forbidden/.test(document.querySelector(`${sel} .card-error`)?.textContent || '')
      && !document.querySelector(`${sel} button[disabled]`), cardSel(order.invoice_number));
    // Made ready elsewhere, then cancelled here (a cashier may cancel).
    const r = await h.api('PATCH', `/api/v1/orders/${order.invoice_number}/status`, { token: h.tokens.admin, body: { status: 'ready' } });
    assert.equal(r.status, 200);
    await page.waitForSelector(`${cardSel(order.invoice_number)}[data-status="ready"]`);
    assert.equal(await card.locator('.card-error').count(), 0, 'the error is cleared by the update');
    await card.locator('button[data-action="cancelled"]').click();
    await card.waitFor({ state: 'detached' }); // finished orders are hidden by default
    await page.check('#show-done');
    await page.waitForSelector(`${cardSel(order.invoice_number)}[data-status="cancelled"]`);
    assert.equal((await h.api('GET', `/api/v1/orders/${order.invoice_number}`, { token: h.tokens.admin })).json.status, 'cancelled');
    await page.close();
    assert.deepStrictEqual(pageErrors, []);
  });

  it('posts an order from the form; a kitchen socket receives exactly that order', async () => {
    const kitchen = io(h.url, { forceNew: true, reconnection: false, auth: { token: h.tokens.dapur1 }, transports: ['websocket'] });
    try {
      await new Promise((resolve, reject) => { kitchen.once('connect', resolve); kitchen.once('connect_error', reject); });
      let page = await openPage();
      await page.fill('#login-username', 'kasir1');
      await page.fill('#login-password', 'cashier-secret');
      await page.click('#login-btn');
      await page.waitForSelector('#conn[data-state="connected"]');
      await page.waitForSelector('#qty-1');
      assert.equal(await page.isDisabled('#post-order'), true, 'nothing to post yet');

      // Two Corndog Sosis with the + button, one Mie typed in, one Coklat.
      await page.click('button[aria-label="one more Corndog Sosis"]');
      await page.click('button[aria-label="one more Corndog Sosis"]');
      await page.fill('#qty-3', '1');
      await page.click('button[aria-label="one more Coklat"]');
      assert.match(await page.textContent('#order-sum'), /4 items · Rp\s?15\.000/);
      await page.selectOption('#payment', 'QRIS');
      await page.fill('#note', 'table 4');

      const got = new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('timed out waiting for new-order')), WAIT);
        kitchen.once('new-order', (o) => { clearTimeout(t); resolve(o); });
      });
      await page.click('#post-order');
      const order = await got;
      assert.equal(order.payment_method, 'QRIS');
      assert.equal(order.note, 'table 4');
      assert.deepStrictEqual(order.lines.map((l) => [l.name, l.qty]), [['Corndog Sosis', 2], ['Mie', 1], ['Coklat', 1]]);
      assert.equal(order.total_amount, 15000);
      await page.waitForFunction((i) => document.getElementById('order-msg').textContent.includes(i), order.invoice_number);
      await page.locator(cardSel(order.invoice_number)).waitFor();
      assert.equal(await page.inputValue('#qty-1'), '0', 'the form is cleared');

      await page.fill('#qty-2', '1000');
      assert.equal(await page.inputValue('#qty-2'), '999', 'the form keeps qty in 0..999');
      await page.close();

      // The kitchen may not post orders: the form shows the server's refusal.
      const kpage = await openPage();
      await kpage.fill('#login-username', 'dapur1');
      await kpage.fill('#login-password', 'kitchen-secret');
      await kpage.click('#login-btn');
      await kpage.waitForSelector('#qty-3');
      await kpage.click('button[aria-label="one more Mie"]');
      await kpage.click('#post-order');
      await kpage.waitForFunction(() => /403 forbidden/.test(document.getElementById('order-msg').textContent));
      page = kpage;
      await page.close();
      assert.deepStrictEqual(pageErrors, []);
    } finally {
      kitchen.disconnect();
    }
  });

  it('says "Reconnecting" while the server is down and comes back live when it restarts', async () => {
    const h2 = await start({
      wsAuth: 'on',
      port: await freePort(),
      users: [{ name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' },
        { name: 'dapur1', role: 'kitchen', outlet: 1, password: 'kitchen-secret' }],
    });
    try {
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
      await page.goto(`${h2.url}/websocket-test.html`);
      await page.fill('#login-username', 'dapur1');
      await page.fill('#login-password', 'kitchen-secret');
      await page.click('#login-btn');
      await page.waitForSelector('#conn[data-state="connected"]');
      const before = await postOrder(h2, h2.tokens.kasir1, sampleOrder());
      await page.locator(cardSel(before.invoice_number)).waitFor();

      assert.deepStrictEqual(await h2.stop(), { code: 0, signal: null }, h2.logs.slice(-20).join('\n'));
      await page.waitForSelector('#conn[data-state="reconnecting"]');
      assert.equal((await page.textContent('#socket-id')).trim(), '–');
      await h2.restart(); // same port, same database: the session token is still valid
      await page.waitForSelector('#conn[data-state="connected"]', { timeout: 30000 });
      // The open queue is reloaded over REST, and new orders arrive live again.
      await page.locator(cardSel(before.invoice_number)).waitFor();
      const after = await postOrder(h2, h2.tokens.kasir1, sampleOrder([{ product_id: 2, qty: 1 }]));
      await page.locator(cardSel(after.invoice_number)).waitFor();

      // The Disconnect button really disconnects, and Connect comes back.
      await page.click('#connect-btn');
      await page.waitForSelector('#conn[data-state="disconnected"]');
      await page.click('#connect-btn');
      await page.waitForSelector('#conn[data-state="connected"]');
      await page.close();
      assert.deepStrictEqual(pageErrors, []);
    } finally {
      await shutdown(h2);
    }
  });

  it('serves the landing page with a link to the test client', async () => {
    const page = await context.newPage();
    await page.goto(`${h.url}/`);
    const href = await page.getAttribute('a[href="websocket-test.html"]', 'href');
    assert.equal(href, 'websocket-test.html');
    await page.click('a[href="websocket-test.html"]');
    await page.waitForSelector('#conn');
    await page.close();
  });
});
