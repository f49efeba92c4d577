'use strict';
// The browser test client (public/websocket-test.html) in headless Chromium: Debian's
// /usr/bin/chromium driven by playwright-core (no browser download). It signs in, connects
// over Socket.IO (the server's /socket.io/socket.io.js), shows an order posted by the test
// as a card, changes its status with a button, posts an order with its form (with the order
// context and per-line note and modifiers of SPEC 10.1), rushes an order and marks its lines
// done, and leaves screenshots in the test artifacts directory ($KDS_BUILD_DIR/test-artifacts/,
// tests/lib/browser.js).
//
// By default against our kds-server (KDS_SERVER_BIN); KDS_TARGET=node for the Node reference.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const { start, sampleOrder, freePort } = require('../lib/harness');
const { shutdown, escapeRe } = require('../lib/wait');
const { launchBrowser, WAIT } = require('../lib/browser');

async function postOrder(h, token, body) {
  const r = await h.api('POST', '/api/v1/orders', { token, body });
  assert.equal(r.status, 201, `POST /api/v1/orders: ${r.status} ${r.text}`);
  return r.json;
}

describe('browser test client in headless Chromium', () => {
  let h;
  let browser;

  before(async () => {
    h = await start({ wsAuth: 'on' });
    browser = await launchBrowser({ viewport: { width: 1440, height: 960 }, timezoneId: 'Asia/Jakarta' });
  });

  after(async () => {
    if (browser) await browser.close();
    await shutdown(h);
  });

  /** A new tab (its own sessionStorage) with JavaScript errors collected. */
  const openPage = () => browser.newPage(`${h.url}/websocket-test.html`);

  const cardSel = (inv) => `article.card[data-invoice="${inv}"]`;

  /** The sign-in form of the page. */
  async function signIn(page, user, password) {
    await page.fill('#login-username', user);
    await page.fill('#login-password', password);
    await page.click('#login-btn');
  }

  it('signs in, connects, shows a posted order as a card, and a status button works', async () => {
    const page = await openPage();
    assert.equal(await page.title(), 'KDS live feed · WebSocket test client');

    // No token yet: the server refuses the socket (--ws-auth on) and the page says why.
    await page.waitForSelector('#conn[data-state="refused"]');
    assert.match(await page.textContent('#conn'), /Refused[\s\S]*unauthorized/);

    await signIn(page, 'dapur1', 'kitchen-secret');
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
    await browser.screenshot(page, 'websocket-test');
    await page.setViewportSize({ width: 390, height: 844 });
    await browser.screenshot(page, 'websocket-test-narrow');

    // Reloading the tab keeps the session (sessionStorage) and loads the open queue over REST.
    await page.setViewportSize({ width: 1440, height: 960 });
    await page.reload();
    await page.waitForSelector('#conn[data-state="connected"]');
    await page.locator(cardSel(inv)).waitFor();
    assert.equal(await page.locator(cardSel(inv)).getAttribute('data-status'), 'ready');
    await page.close();
    assert.deepStrictEqual(browser.errors, []);
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
    assert.deepStrictEqual(browser.errors, []);
  });

  it('posts an order from the form; a kitchen socket receives exactly that order', async () => {
    const kitchen = io(h.url, { forceNew: true, reconnection: false, auth: { token: h.tokens.dapur1 }, transports: ['websocket'] });
    try {
      await new Promise((resolve, reject) => { kitchen.once('connect', resolve); kitchen.once('connect_error', reject); });
      let page = await openPage();
      await signIn(page, 'kasir1', 'cashier-secret');
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
      await signIn(kpage, 'dapur1', 'kitchen-secret');
      await kpage.waitForSelector('#qty-3');
      await kpage.click('button[aria-label="one more Mie"]');
      await kpage.click('#post-order');
      await kpage.waitForFunction(() => /403 forbidden/.test(document.getElementById('order-msg').textContent));
      page = kpage;
      await page.close();
      assert.deepStrictEqual(browser.errors, []);
    } finally {
      kitchen.disconnect();
    }
  });

  it('posts an order with its context and per-line note and modifiers; a kitchen tab rushes it and marks its lines done', async () => {
    const older = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 2, qty: 1 }]));
    const till = await openPage();
    await signIn(till, 'kasir1', 'cashier-secret');
    await till.waitForSelector('#qty-1');
    // Two Corndog Sosis with modifiers and a line note, one Mie plain; takeaway for a named customer at table 12.
    await till.click('button[aria-label="one more Corndog Sosis"]');
    await till.click('button[aria-label="one more Corndog Sosis"]');
    await till.waitForSelector('#line-mods-1', { state: 'visible' });
    await till.fill('#line-mods-1', 'no mayo, extra spicy ,');
    await till.fill('#line-note-1', 'cut in half');
    await till.click('button[aria-label="one more Mie"]');
    await till.selectOption('#order-type', 'takeaway');
    await till.fill('#table', '12');
    await till.fill('#customer-name', 'Budi Santoso');
    await till.click('#post-order');
    await till.waitForFunction(() => /^Posted \S+/.test(document.getElementById('order-msg').textContent));
    const inv = (await till.textContent('#order-msg')).match(/^Posted (\S+)/)[1];
    assert.equal(await till.inputValue('#customer-name'), '', 'the form is cleared');
    assert.equal(await till.inputValue('#line-mods-1'), '');
    await till.close();

    // What the server stored: the context, and the note and modifiers on their line only.
    const api = async () => {
      const r = await h.api('GET', `/api/v1/orders/${inv}`, { token: h.tokens.admin });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    let o = await api();
    assert.equal(o.order_type, 'takeaway');
    assert.equal(o.table, '12');
    assert.equal(o.customer_name, 'Budi Santoso');
    assert.equal(o.rush, undefined);
    assert.deepStrictEqual(o.lines.map((l) => [l.name, l.qty, l.modifiers, l.note]),
      [['Corndog Sosis', 2, ['no mayo', 'extra spicy'], 'cut in half'], ['Mie', 1, undefined, undefined]]);

    // The kitchen's card shows them on the header and under their line.
    const page = await openPage();
    await signIn(page, 'dapur1', 'kitchen-secret');
    await page.waitForSelector('#conn[data-state="connected"]');
    const card = page.locator(cardSel(inv));
    await card.waitFor();
    assert.equal((await card.locator('.otype').textContent()).trim(), 'Takeaway');
    assert.equal((await card.locator('.table').textContent()).trim(), 'Table 12');
    assert.equal((await card.locator('.customer').textContent()).trim(), 'Budi Santoso');
    assert.deepStrictEqual(await card.locator('li[data-line="1"] .mod').allTextContents(), ['no mayo', 'extra spicy']);
    assert.equal((await card.locator('li[data-line="1"] .line-note').textContent()).trim(), 'cut in half');
    assert.equal(await card.locator('li[data-line="2"] .line-extra').count(), 0);
    // Today's order shows no date (SPEC 10.7), judged by the server's day, not the browser's
    // (this tab is in Asia/Jakarta, the server in its own zone).
    assert.equal(await card.locator('.card-day').count(), 0);
    const queue = () => page.evaluate(() => [...document.querySelectorAll('#orders article.card')].map((c) => c.dataset.invoice));
    let q = await queue();
    assert.ok(q.indexOf(older.invoice_number) < q.indexOf(inv), 'oldest first before the rush');

    // Rush: marked with text (not only a colour), at the front of the queue, set on the server.
    await card.locator('button[data-rush="true"]').click();
    await page.waitForSelector(`${cardSel(inv)}[data-rush="true"] .rush-mark`);
    assert.match(await card.locator('.rush-mark').textContent(), /RUSH/);
    assert.equal((await api()).rush, true);
    q = await queue();
    assert.equal(q[0], inv, 'a rush ticket goes to the front');

    // Line 1 done over the socket (line-done with its ack): dimmed, the order still new.
    await card.locator('button[data-line-done="1"]').click();
    await page.waitForSelector(`${cardSel(inv)} li.line.done[data-line="1"]`);
    await page.waitForFunction(() => [...document.querySelectorAll('#log .ev-in .ev-name')].some((n) => n.textContent === 'ack line-done'));
    o = await api();
    assert.deepStrictEqual(o.lines.map((l) => !!l.done), [true, false]);
    assert.equal(o.status, 'new');

    // Line 2 done over REST: every line is done, so the order is ready by itself.
    await page.check('input[name="via"][value="rest"]');
    await card.locator('button[data-line-done="2"]').click();
    await page.waitForSelector(`${cardSel(inv)}[data-status="ready"]`);
    o = await api();
    assert.equal(o.status, 'ready');
    assert.deepStrictEqual(o.lines.map((l) => !!l.done), [true, true]);

    // Un-doing a line of a ready order recalls it to preparing; unrush clears the flag.
    await card.locator('button[data-line-done="1"]').click();
    await page.waitForSelector(`${cardSel(inv)}[data-status="preparing"]`);
    o = await api();
    assert.equal(o.status, 'preparing');
    assert.deepStrictEqual(o.lines.map((l) => !!l.done), [false, true]);
    await card.locator('button[data-rush="false"]').click();
    await page.waitForSelector(`${cardSel(inv)}[data-rush="false"]`);
    assert.equal((await api()).rush, undefined, 'rush: false leaves the key out');
    await page.check('input[name="via"][value="socket"]');
    await browser.screenshot(page, 'websocket-test-kitchen-ops');
    await page.close();
    assert.deepStrictEqual(browser.errors, []);
  });

  it('a cancel and a void are loud on the kitchen screen: the card stays marked and the bell rings', async () => {
    const page = await openPage();
    await signIn(page, 'dapur1', 'kitchen-secret');
    await page.waitForSelector('#conn[data-state="connected"]');
    const a = await postOrder(h, h.tokens.kasir1, sampleOrder());
    const b = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 3, qty: 1 }]));
    await page.locator(cardSel(b.invoice_number)).waitFor();
    const bells = await page.evaluate(() => window.kdsSound.played.bell);
    assert.equal((await h.api('PATCH', `/api/v1/orders/${a.invoice_number}/status`, { token: h.tokens.kasir1, body: { status: 'cancelled' } })).status, 200);
    await page.waitForSelector(`${cardSel(a.invoice_number)}.loud .loud-banner`);
    assert.match(await page.textContent(`${cardSel(a.invoice_number)} .loud-banner`), /CANCELLED/);
    assert.equal((await h.api('DELETE', `/api/v1/orders/${b.invoice_number}`, { token: h.tokens.admin })).status, 204);
    await page.waitForSelector(`${cardSel(b.invoice_number)}.loud .loud-banner`);
    assert.match(await page.textContent(`${cardSel(b.invoice_number)} .loud-banner`), /VOIDED/);
    const sound = await page.evaluate(() => ({ bell: window.kdsSound.played.bell, log: window.kdsSound.log.slice(-2) }));
    assert.equal(sound.bell, bells + 2, 'one bell per cancel or void');
    assert.deepStrictEqual(sound.log.map((x) => x.kind), ['bell', 'bell']);
    assert.ok(sound.log.every((x) => x.audio !== 'none' && x.audio !== 'error'), `WebAudio played: ${JSON.stringify(sound.log)}`);
    // Then they leave (after about 5 s).
    await page.locator(cardSel(a.invoice_number)).waitFor({ state: 'detached', timeout: 10000 });
    await page.locator(cardSel(b.invoice_number)).waitFor({ state: 'detached', timeout: 10000 });
    await page.close();
    assert.deepStrictEqual(browser.errors, []);
  });

  it('says "Reconnecting" while the server is down and comes back live when it restarts', async () => {
    const h2 = await start({
      wsAuth: 'on',
      port: await freePort(),
      users: [{ name: 'kasir1', role: 'cashier', outlet: 1, password: 'cashier-secret' },
        { name: 'dapur1', role: 'kitchen', outlet: 1, password: 'kitchen-secret' }],
    });
    try {
      const page = await browser.newPage(`${h2.url}/websocket-test.html`);
      await signIn(page, 'dapur1', 'kitchen-secret');
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
      assert.deepStrictEqual(browser.errors, []);
    } finally {
      await shutdown(h2);
    }
  });

  it('serves the landing page with a link to the test client', async () => {
    const page = await browser.newPage(`${h.url}/`);
    const href = await page.getAttribute('a[href="websocket-test.html"]', 'href');
    assert.equal(href, 'websocket-test.html');
    for (const link of ['dashboard.html', 'board.html']) assert.equal(await page.getAttribute(`a[href="${link}"]`, 'href'), link);
    await page.click('a[href="websocket-test.html"]');
    await page.waitForSelector('#conn');
    // The test client links both pages (issue 10, item 9), and they load.
    await page.click('#link-dashboard');
    await page.waitForURL(/\/dashboard\.html$/);
    await page.waitForSelector('#signin:not([hidden])');
    await page.goBack();
    await page.click('#link-board');
    await page.waitForURL(/\/board\.html$/);
    await page.waitForSelector('#signin:not([hidden])');
    await page.close();
  });
});
