'use strict';
// The customer board (public/board.html, SPEC 10.6) in headless Chromium at 1920x1080 and
// 1280x720, signed in with a display token in the URL: orders posted through the API appear
// under Preparing by number (or customer name), move to Ready with a chime, leave when
// completed, cancelled or voided, and a ready one leaves after --board-ready-for seconds.
// Many orders still fit without scrollbars. Screenshots go to the test artifacts directory
// ($KDS_BUILD_DIR/test-artifacts/, tests/lib/browser.js).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { start, sampleOrder, DEFAULT_USERS } = require('../lib/harness');
const { shutdown, postOrder, sleep } = require('../lib/wait');
const { launchBrowser } = require('../lib/browser');

const USERS = [...DEFAULT_USERS, { name: 'tv1', role: 'display', outlet: 1, password: 'display-secret' }];
const SIZES = [[1920, 1080], [1280, 720]];
const NAMES = ['Budi', 'Siti Rahma', 'Agus', 'Dewi', 'Yohanes Kristianto', 'Rina'];

const last = (inv) => inv.split('-')[2];
const tileSel = (col, inv) => `#${col} .tile[data-invoice="${inv}"]`;

describe('customer board in headless Chromium', () => {
  let h;
  let browser;

  before(async () => {
    h = await start({ wsAuth: 'on', users: USERS });
    browser = await launchBrowser({ viewport: { width: 1920, height: 1080 } });
  });

  after(async () => {
    if (browser) await browser.close();
    await shutdown(h);
  });

  async function openBoard(server, token, size) {
    const page = await browser.newPage(`${server.url}/board.html?token=${encodeURIComponent(token)}`, size);
    await page.waitForSelector('#conn[data-state="connected"]');
    await page.waitForFunction(() => window.kdsBoard.loads >= 1);
    return page;
  }

  const status = (server, inv, s, token) => server.api('PATCH', `/api/v1/orders/${inv}/status`, { token, body: { status: s } })
    .then((r) => assert.equal(r.status, 200, `PATCH ${inv} ${s}: ${r.status} ${r.text}`));

  /** Leaves the server with no open order: each size starts from an empty board. */
  async function clearOpen(server) {
    const r = await server.api('GET', '/api/v1/orders?status=new,preparing,ready&limit=1000', { token: server.tokens.admin });
    for (const o of r.json) await status(server, o.invoice_number, 'cancelled', server.tokens.admin);
  }

  for (const size of SIZES) {
    const [w, hgt] = size;
    it(`at ${w}x${hgt}: live Preparing/Ready columns, chime, leaving orders, many orders fit; screenshot`, async () => {
      // Already ready before the board opens: shown from the list, without a chime.
      const early = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 2, qty: 1 }]));
      await status(h, early.invoice_number, 'ready', h.tokens.dapur1);

      const page = await openBoard(h, h.tokens.tv1, size);
      // The token left the address bar and stays in this tab's sessionStorage.
      assert.equal(new URL(page.url()).search, '');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('kds.token')), h.tokens.tv1);
      await page.waitForSelector(tileSel('ready', early.invoice_number));
      assert.equal(await page.evaluate(() => window.kdsBoard.chimes), 0, 'no chime for what was already ready');

      // A new order: under Preparing, by its number.
      const a = await postOrder(h, h.tokens.kasir1, sampleOrder());
      await page.waitForSelector(tileSel('preparing', a.invoice_number));
      assert.equal((await page.textContent(tileSel('preparing', a.invoice_number))).trim(), last(a.invoice_number));

      // With a customer name: the name instead of the number.
      const b = await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 1, qty: 1 }], { customer_name: 'Budi', order_type: 'takeaway' }));
      await page.waitForSelector(tileSel('preparing', b.invoice_number));
      assert.equal((await page.textContent(tileSel('preparing', b.invoice_number))).trim(), 'Budi');

      // preparing stays in Preparing; ready moves it with a chime; completed takes it off.
      await status(h, a.invoice_number, 'preparing', h.tokens.dapur1);
      await page.waitForSelector(`${tileSel('preparing', a.invoice_number)}[data-status="preparing"]`);
      await browser.screenshot(page, `board-${w}x${hgt}-1-preparing`);
      await status(h, a.invoice_number, 'ready', h.tokens.dapur1);
      await page.waitForSelector(tileSel('ready', a.invoice_number));
      assert.equal(await page.locator(tileSel('preparing', a.invoice_number)).count(), 0);
      assert.equal(await page.evaluate(() => window.kdsBoard.chimes), 1, 'one chime when it became ready');
      await browser.screenshot(page, `board-${w}x${hgt}-2-ready`);
      await status(h, a.invoice_number, 'completed', h.tokens.dapur1);
      await page.locator(`.tile[data-invoice="${a.invoice_number}"]`).waitFor({ state: 'detached' });
      await browser.screenshot(page, `board-${w}x${hgt}-3-gone`);

      // Cancelled and voided orders stay a few seconds, struck through, with the bell (SPEC 10.8).
      const bells = await page.evaluate(() => window.kdsSound.played.bell);
      await status(h, b.invoice_number, 'cancelled', h.tokens.kasir1);
      await page.waitForSelector(`.tile.cancelled[data-invoice="${b.invoice_number}"]`);
      assert.equal((await page.textContent(`.tile[data-invoice="${b.invoice_number}"] .label`)).trim(), '✕ Budi');
      assert.equal((await page.textContent(`.tile[data-invoice="${b.invoice_number}"] .gone-word`)).trim(), 'Cancelled');
      assert.equal((await page.textContent('#preparing-count')).trim(), '0', 'a cancelled order is not counted as waiting');
      await browser.screenshot(page, `board-${w}x${hgt}-4-cancelled`);
      await page.locator(`.tile[data-invoice="${b.invoice_number}"]`).waitFor({ state: 'detached' });
      const c = await postOrder(h, h.tokens.kasir1, sampleOrder());
      await page.waitForSelector(tileSel('preparing', c.invoice_number));
      assert.equal((await h.api('DELETE', `/api/v1/orders/${c.invoice_number}`, { token: h.tokens.admin })).status, 204);
      await page.waitForSelector(`.tile.cancelled[data-invoice="${c.invoice_number}"]`);
      assert.equal((await page.textContent(`.tile[data-invoice="${c.invoice_number}"] .gone-word`)).trim(), 'Voided');
      await page.locator(`.tile[data-invoice="${c.invoice_number}"]`).waitFor({ state: 'detached' });
      const sound = await page.evaluate(() => ({ played: { ...window.kdsSound.played }, log: window.kdsSound.log.map((x) => [x.kind, x.audio]) }));
      assert.equal(sound.played.bell, bells + 2, `a bell for the cancel and one for the void: ${JSON.stringify(sound)}`);
      assert.equal(sound.played.chime, 1, 'the chime of the ready order, through kdsSound');
      assert.ok(sound.log.every(([, audio]) => audio !== 'none' && audio !== 'error'), `WebAudio played: ${JSON.stringify(sound)}`);

      // A busy moment: 26 preparing and 12 ready orders, some with names, oldest first.
      const many = [];
      for (let i = 0; i < 38; i++) {
        const extra = i % 7 === 3 ? { customer_name: NAMES[i % NAMES.length] } : {};
        many.push(await postOrder(h, h.tokens.kasir1, sampleOrder([{ product_id: 1 + (i % 8), qty: 1 }], extra)));
      }
      for (const o of many.slice(0, 12)) await status(h, o.invoice_number, 'ready', h.tokens.dapur1);
      await page.waitForFunction(() => document.querySelectorAll('#ready .tile').length === 13
        && document.querySelectorAll('#preparing .tile').length === 26);
      assert.equal(await page.evaluate(() => window.kdsBoard.chimes), 13);
      const order = await page.evaluate(() => [...document.querySelectorAll('#preparing .tile')].map((t) => t.dataset.invoice));
      assert.deepStrictEqual(order, many.slice(12).map((o) => o.invoice_number), 'Preparing is oldest first');
      const named = many.find((o) => o.customer_name);
      assert.equal((await page.textContent(`.tile[data-invoice="${named.invoice_number}"]`)).trim(), named.customer_name);

      // Everything on the screen, no scrollbars, and the numbers large enough to read across a room.
      await sleep(300);
      const fit = await page.evaluate(() => {
        const de = document.documentElement;
        const tiles = [...document.querySelectorAll('.tile')];
        // Layout boxes (offsets), not painted ones: the just-ready pulse scales a tile a little.
        const out = tiles.filter((t) => {
          const list = t.closest('.tiles');
          return t.offsetTop + t.offsetHeight > list.clientHeight + 1 || t.offsetLeft + t.offsetWidth > list.clientWidth + 1;
        }).length
          + [...document.querySelectorAll('.tiles')].filter((l) => l.scrollHeight > l.clientHeight + 1).length;
        const size = (sel) => Math.min(...[...document.querySelectorAll(sel)].map((t) => parseFloat(getComputedStyle(t).fontSize)));
        return { sw: de.scrollWidth, sh: de.scrollHeight, iw: innerWidth, ih: innerHeight, out, prep: size('#preparing .tile'), ready: size('#ready .tile') };
      });
      assert.ok(fit.sw <= fit.iw && fit.sh <= fit.ih, `no scrollbars: ${JSON.stringify(fit)}`);
      assert.equal(fit.out, 0, `every tile is inside its column: ${JSON.stringify(fit)}`);
      // ~5% of the screen height for Ready, ~4% for Preparing: 54 px / 43 px at 1080.
      assert.ok(fit.ready >= 0.05 * hgt, `Ready numbers are large: ${JSON.stringify(fit)}`);
      assert.ok(fit.prep >= 0.04 * hgt, `Preparing numbers are large: ${JSON.stringify(fit)}`);

      await sleep(11000 - 300); // the just-ready highlight has settled: the picture shows the steady board
      await browser.screenshot(page, `board-${w}x${hgt}`);
      await page.close();
      await clearOpen(h);
      assert.deepStrictEqual(browser.errors, []);
    });
  }

  it('a ready order leaves after --board-ready-for; a reconnect resyncs without a reload', async () => {
    const h2 = await start({ wsAuth: 'on', users: USERS, args: ['--board-ready-for', '2'] });
    try {
      const settings = await h2.api('GET', '/api/v1/settings', { token: h2.tokens.tv1 });
      assert.equal(settings.status, 200, settings.text);
      assert.equal(settings.json.board_ready_for_s, 2);
      const page = await openBoard(h2, h2.tokens.tv1, SIZES[1]);
      await page.evaluate(() => { window.notReloaded = true; });

      const o = await postOrder(h2, h2.tokens.kasir1, sampleOrder());
      await page.waitForSelector(tileSel('preparing', o.invoice_number));
      await status(h2, o.invoice_number, 'ready', h2.tokens.dapur1);
      await page.waitForSelector(tileSel('ready', o.invoice_number));
      const t0 = Date.now();
      await page.locator(`.tile[data-invoice="${o.invoice_number}"]`).waitFor({ state: 'detached', timeout: 6000 });
      assert.ok(Date.now() - t0 >= 1000, 'it stayed on the board for a while');
      assert.equal((await h2.api('GET', `/api/v1/orders/${o.invoice_number}`, { token: h2.tokens.admin })).json.status, 'ready',
        'still ready on the server: only the board let it go');
      // Loaded again later, it is not shown either (ready since its updated_at).
      await page.reload();
      await page.waitForFunction(() => window.kdsBoard.loads >= 1);
      assert.equal(await page.locator(`.tile[data-invoice="${o.invoice_number}"]`).count(), 0);
      await page.evaluate(() => { window.notReloaded = true; });

      // Changes while the link is down arrive with the resync on the reconnect.
      const p1 = await postOrder(h2, h2.tokens.kasir1, sampleOrder());
      await page.waitForSelector(tileSel('preparing', p1.invoice_number));
      const loads = await page.evaluate(() => window.kdsBoard.loads);
      await page.evaluate(() => window.kdsBoard.state.socket.disconnect());
      await page.waitForFunction(() => !window.kdsBoard.state.socket.connected);
      const p2 = await postOrder(h2, h2.tokens.kasir1, sampleOrder([{ product_id: 2, qty: 1 }], { customer_name: 'Rina' }));
      await status(h2, p1.invoice_number, 'cancelled', h2.tokens.kasir1);
      await sleep(300);
      assert.equal(await page.locator(`.tile[data-invoice="${p2.invoice_number}"]`).count(), 0, 'missed while disconnected');
      await page.evaluate(() => window.kdsBoard.state.socket.connect());
      await page.waitForSelector(tileSel('preparing', p2.invoice_number));
      await page.locator(`.tile[data-invoice="${p1.invoice_number}"]`).waitFor({ state: 'detached' });
      assert.ok(await page.evaluate((n) => window.kdsBoard.loads > n && window.notReloaded === true, loads));
      await page.close();
      assert.deepStrictEqual(browser.errors, []);
    } finally {
      await shutdown(h2);
    }
  });

  it('without a token the board asks for one; a refused token is forgotten', async () => {
    const page = await browser.newPage(`${h.url}/board.html`);
    await page.waitForSelector('#signin:not([hidden])');
    await page.fill('#signin-token', 'not-a-valid-token');
    await page.click('#signin-btn');
    await page.waitForSelector('#signin:not([hidden])');
    await page.waitForFunction(() => /not accepted/.test(document.getElementById('signin-msg').textContent));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('kds.token')), null);
    await page.fill('#signin-user', 'dapur1');
    await page.fill('#signin-pass', 'kitchen-secret');
    await page.click('#signin-btn');
    await page.waitForSelector('#conn[data-state="connected"]');
    assert.equal(await page.isHidden('#signin'), true);
    await page.close();
  });
});
