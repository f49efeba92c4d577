#!/usr/bin/env node
'use strict';
// compare-summary.js OUTDIR ROUNDS: the table of compare.sh from the kds-bench JSON files
// OUTDIR/<scenario>.<c|node|aa>.<round>.json. Ratios are C/Node per round (adjacent runs),
// reported as median [min-max]; the A/A column is C run 1 / C run 2 of the extra pair.
// KDS_COMPARE_OTHER names the other side when it is not the Node reference (compare.sh
// --baseline: another kds-server build); the files keep the tag "node".

const fs = require('node:fs');
const path = require('node:path');

const [dir, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg || 3);
const OTHER = process.env.KDS_COMPARE_OTHER || 'Node';

const METRICS = {
  post: [
    ['POST/s', (r) => r.post_per_second, 'higher'],
    ['POST p50 ms', (r) => r.post_latency.p50_ms, 'lower'],
    ['POST p99 ms', (r) => r.post_latency.p99_ms, 'lower'],
  ],
  fanout: [
    ['last recipient p50 ms', (r) => r.last_recipient_latency.p50_ms, 'lower'],
    ['last recipient p99 ms', (r) => r.last_recipient_latency.p99_ms, 'lower'],
    ['delivery p99 ms', (r) => r.delivery_latency.p99_ms, 'lower'],
    ['server CPU us/delivery', (r) => r.server_cpu_us_per_delivery, 'lower'],
  ],
  idle: [['server RSS kB/connection', (r) => r.server_rss_per_connection_kb, 'lower']],
};

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function load(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'env.json');
const scenarios = [...new Set(files.map((f) => f.split('.')[0]))];
const order = ['post-c1', 'post-c16', 'post-c64', 'post-c1-l1000', 'post-c16-l1000', 'post-c64-l1000',
  'fanout-100', 'fanout-1000', 'fanout-10000', 'idle-1000', 'idle-10000', 'wrk-c64'];
scenarios.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));

const env = load(path.join(dir, 'env.json'));
const lines = [];
if (env) {
  const e = env.env;
  lines.push(`Machine: ${e.os} ${e.kernel} ${e.arch}, ${e.cpu} x${e.cpus}; libuv ${e.libuv}, wslay ${e.wslay}, cc ${e.compiler}; Node ${process.version}.`);
  lines.push('');
}
lines.push(`${rounds} rounds per scenario, C and ${OTHER} alternating (C,${OTHER[0]} / ${OTHER[0]},C / ...), fresh database per run.`);
lines.push(`Ratios are C/${OTHER} per round: median [min-max]. A/A: two C runs of the same scenario (noise floor).`);
lines.push('');
lines.push(`| scenario | metric | C (median) | ${OTHER} (median) | C/${OTHER} | A/A |`);
lines.push('|---|---|---:|---:|---:|---:|');
const problems = [];
for (const scen of scenarios) {
  const kind = scen.startsWith('post') || scen.startsWith('wrk') ? 'post' : scen.startsWith('fanout') ? 'fanout' : 'idle';
  const get = (tag) => load(path.join(dir, `${scen}.${tag}.json`));
  const runs = { c: [], node: [] };
  for (let r = 1; r <= rounds; r++) {
    runs.c.push(get(`c.${r}`));
    runs.node.push(get(`node.${r}`));
  }
  const aa = [get('aa.1'), get('aa.2')];
  for (const [tag, list] of Object.entries({ c: runs.c, node: runs.node, aa })) {
    list.forEach((j, i) => {
      if (!j) problems.push(`${scen} ${tag}.${i + 1}: no result`);
      else if (j.results.error || j.results.deliveries_missing > 0) {
        problems.push(`${scen} ${tag}.${i + 1}: ${j.results.error || ''} (missing deliveries: ${j.results.deliveries_missing})`);
      }
    });
  }
  for (const [name, f] of METRICS[kind]) {
    const val = (j) => {
      if (!j) return NaN;
      try {
        const v = f(j.results);
        return typeof v === 'number' && v >= 0 ? v : NaN;
      } catch {
        return NaN;
      }
    };
    const cs = runs.c.map(val);
    const ns = runs.node.map(val);
    const ratios = cs.map((c, i) => c / ns[i]).filter(Number.isFinite);
    const aaRatio = val(aa[0]) / val(aa[1]);
    const spread = ratios.length ? `${fmt(median(ratios), 3)} [${fmt(Math.min(...ratios), 3)}-${fmt(Math.max(...ratios), 3)}]` : '-';
    lines.push(`| ${scen} | ${name} | ${fmt(median(cs))} | ${fmt(median(ns))} | ${spread} | ${fmt(aaRatio, 3)} |`);
  }
}
if (problems.length) {
  lines.push('');
  lines.push('Problems (a missing delivery is an error):');
  for (const p of problems) lines.push(`- ${p}`);
}
console.log(lines.join('\n'));
