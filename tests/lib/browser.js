'use strict';
// Headless Chromium for the page tests (browser, dashboard, board): Debian's /usr/bin/chromium
// driven by playwright-core (no browser download). One persistent context per test file, in a
// throw-away profile; every page opened through it has its JavaScript errors, console errors
// and 404/5xx responses collected in `errors`, which a test asserts empty. Screenshots go to
// the test artifacts directory: $KDS_ARTIFACTS_DIR, else $KDS_BUILD_DIR/test-artifacts
// (ctest sets KDS_BUILD_DIR to the build directory), else build/test-artifacts.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { SOURCE_DIR } = require('./harness');

const CHROMIUM = process.env.KDS_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.KDS_ARTIFACTS_DIR
  || path.join(process.env.KDS_BUILD_DIR || path.join(SOURCE_DIR, 'build'), 'test-artifacts');
const WAIT = 10000;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // the board's chime and the bell play without a click (the pages still work when they cannot)
  '--autoplay-policy=no-user-gesture-required'];

/**
 * Starts Chromium. opts: viewport {width, height} (default 1440x960), timezoneId.
 * Returns {context, errors, newPage(url, [w, h]), screenshot(page, name), close()}.
 */
async function launchBrowser(opts = {}) {
  // No silent skip: scripts/deps.sh --tests installs Debian's chromium.
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: install the Debian package chromium (scripts/deps.sh --tests)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kds-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: opts.viewport || { width: 1440, height: 960 },
      colorScheme: 'light',
      ...(opts.timezoneId ? { timezoneId: opts.timezoneId } : {}),
    });
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  context.setDefaultTimeout(WAIT);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const errors = [];

  /** Collects what went wrong on this page into `errors`. */
  function watch(page) {
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    // "Failed to load resource" repeats a response status: those are collected per URL below.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/^Failed to load resource/.test(msg.text())) errors.push(`console: ${msg.text()}`);
    });
    page.on('response', (res) => {
      if (res.status() === 404 || res.status() >= 500) errors.push(`${res.status()} ${res.request().method()} ${res.url()}`);
      if (process.env.KDS_TEST_VERBOSE && res.status() >= 400) console.error(`${res.status()} ${res.request().method()} ${res.url()}`);
    });
    return page;
  }

  /** A new tab (its own sessionStorage), watched, at that size, at url when given. */
  async function newPage(url, size) {
    const page = watch(await context.newPage());
    if (size) await page.setViewportSize({ width: size[0], height: size[1] });
    if (url) await page.goto(url);
    return page;
  }

  /** A viewport screenshot in the artifacts directory; returns its path. */
  async function screenshot(page, name) {
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: false, animations: 'disabled' });
    assert.ok(fs.statSync(file).size > 10000, `a screenshot was written: ${file}`);
    return file;
  }

  async function close() {
    try {
      await context.close();
    } finally {
      fs.rmSync(profile, { recursive: true, force: true });
    }
  }

  return { context, errors, watch, newPage, screenshot, close };
}

module.exports = { launchBrowser, CHROMIUM, ARTIFACTS, WAIT };
