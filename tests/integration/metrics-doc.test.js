'use strict';
// SPEC 12: the README lists every /metrics series. A scrape's families (its # TYPE lines,
// after a request so that kds_http_requests_total is there) must each appear in README.md,
// and the README lists no family the server does not have.

const { it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { start, SOURCE_DIR } = require('../lib/harness');

it('README.md lists every /metrics series, and only those', async () => {
  const h = await start();
  try {
    await h.api('GET', '/healthz');
    const r = await h.api('GET', '/metrics');
    assert.equal(r.status, 200);
    const families = [...r.text.matchAll(/^# TYPE (\S+) (counter|gauge)$/gm)].map((m) => m[1]);
    assert.ok(families.length >= 10, r.text);
    const readme = fs.readFileSync(path.join(SOURCE_DIR, 'README.md'), 'utf8');
    for (const f of families) assert.match(readme, new RegExp(`\`${f}(\\{[^}]*\\})?\``), `README lists ${f}`);
    // The table's first column: rows that start with a series name.
    const rows = readme.split('\n').filter((l) => /^\| `(kds|process)_/.test(l)).map((l) => l.split('|')[1]);
    const listed = new Set(rows.flatMap((c) => [...c.matchAll(/`((?:kds|process)_[a-z_]+)/g)].map((m) => m[1])));
    for (const f of listed) assert.ok(families.includes(f), `README's ${f} is a series of /metrics`);
  } finally {
    await h.cleanup();
  }
});
