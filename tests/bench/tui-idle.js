'use strict';
// How much CPU an idle kitchen display uses with a full queue (issue 11: "idle CPU stays ~0
// with 200 open tickets"). A measurement, not a test: it prints figures and never fails on
// them.
//
//   node tests/bench/tui-idle.js [TICKETS=200] [SECONDS=30] [COLSxROWS=200x50]
//   KDS_SERVER_BIN / KDS_TUI_BIN: the release builds by default (build/kds-server, build/kds-tui).
//
// It fills a fresh server with TICKETS open orders over REST, starts kds-tui in a private tmux
// server at the given size, waits until every ticket is loaded and the screen is LIVE, then
// reads the display's utime+stime from /proc/<pid>/stat at the start and the end of SECONDS
// of idleness (the clock in the header and the tickets' ages still tick once a second), and
// the same over SECONDS with one order arriving per second (what a lunch rush costs).

const fs = require('node:fs');
const { Tui, ourServer, sleep, waitFor } = require('../tui/tui-lib');

const TICKETS = Number(process.argv[2] || 200);
const SECONDS = Number(process.argv[3] || 30);
const [COLS, ROWS] = (process.argv[4] || '200x50').split('x').map(Number);
const HZ = 100; // USER_HZ: the unit of /proc/<pid>/stat's times on Linux

function cpuTicks(pid) {
  // the comm field may hold spaces: the fields after it start after the last ')'
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function measure(pid, seconds, during) {
  const t0 = Date.now();
  const c0 = cpuTicks(pid);
  await during(seconds);
  const c1 = cpuTicks(pid);
  const wall = (Date.now() - t0) / 1000;
  return { cpuPct: (100 * (c1 - c0)) / HZ / wall, cpuMs: ((c1 - c0) * 1000) / HZ, wall };
}

async function main() {
  const srv = await ourServer();
  let x;
  try {
    for (let i = 0; i < TICKETS; i++) await srv.post([{ product_id: 1 + (i % 8), qty: 1 + (i % 3) }], i % 5 ? undefined : 'no onion');
    x = await Tui.start(['--server', srv.url, '--token', srv.token], { cols: COLS, rows: ROWS });
    await x.waitScreen((s) => / LIVE /.test(s) && new RegExp(`Open ${TICKETS} `).test(s), `LIVE with ${TICKETS} open`, 60000);
    await sleep(3000); // the stats fetch and the first redraws settle
    const pid = x.pid();
    const idle = await measure(pid, SECONDS, (s) => sleep(s * 1000));
    let posted = 0;
    const busy = await measure(pid, SECONDS, async (s) => {
      for (let i = 0; i < s; i++) {
        await srv.post([{ product_id: 1 + (i % 8), qty: 1 }]);
        posted++;
        await sleep(1000);
      }
    });
    await waitFor(() => new RegExp(`Open ${TICKETS + posted} `).test(x.screen()), { what: 'every new order shown' });
    const rss = rssKiB(pid);
    console.log(`kds-tui at ${COLS}x${ROWS} with ${TICKETS} open tickets:`);
    console.log(`  idle ${SECONDS} s:            ${idle.cpuPct.toFixed(2)} % of one core (${idle.cpuMs.toFixed(0)} ms CPU in ${idle.wall.toFixed(1)} s)`);
    console.log(`  one order a second, ${SECONDS} s: ${busy.cpuPct.toFixed(2)} % of one core (${busy.cpuMs.toFixed(0)} ms CPU, ${posted} orders)`);
    console.log(`  RSS ${rss} KiB`);
    console.log(`  (/proc/<pid>/stat utime+stime at ${HZ} ticks/s; the build: ${process.env.KDS_TUI_BIN || 'build/kds-tui'})`);
    await x.quit();
  } finally {
    if (x) x.kill();
    await srv.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
