#!/usr/bin/env node
// bench/sim.mjs: a fluid model of the bench's workloads, to explain the measurements and to
// try policies linkbal does not have. No lab, no root; runs in seconds.
//
//   node bench/sim.mjs [--workload equal|pareto] [--rates 4.77,2.40,1.20] [--count N]
//                      [--parallel P] [--size MB] [--trials 2000] [--refresh 0.25] [--lag 0.01]
//                      [--seeds N] [--json]
//
// --seeds N: the pareto workload drawn with seeds 1 to N (each 40 MB), one result per draw:
// how much of a result is the policy and how much the draw (the bench runs seeds 1 to --draws, 30).
// --json: only the weights 4:2:1, as {"policy": [fraction of draw 1, of draw 2, ...]} (bench.mjs).
//
// Model: each link is a pipe of fixed rate (MB/s) shared equally by the downloads on it
// (ideal TCP fairness, no slow start, no RTT); P workers each start the next download the
// moment their previous one ends (test/lab/client.js's pool); a policy picks the link of a
// download when it starts, as the netfilter rules pick the link of a NEW connection.
// Fraction = (total MB / sum of rates) / time until the last download ends.
// The workloads are bench/workload.mjs's: the same sizes, in the same order, as the lab.
import { WORKLOADS, paretoSizes, prng } from './workload.mjs';

const o = { workload: 'equal', rates: [4.77, 2.40, 1.20], count: null, parallel: null, size: null, trials: 2000, refresh: 0.25, lag: 0.01, seeds: 0, json: false };
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i += 2) {
  const v = a[i + 1];
  if (a[i] === '--json') { o.json = true; i--; }
  else if (a[i] === '--rates') o.rates = v.split(',').map(Number);
  else if (a[i] === '--workload') o.workload = v;
  else if (a[i] in { '--count': 1, '--parallel': 1, '--size': 1, '--trials': 1, '--refresh': 1, '--lag': 1, '--seeds': 1 }) o[a[i].slice(2)] = Number(v);
  else throw new Error(`unknown argument ${a[i]}`);
}
const W = WORKLOADS[o.workload] ?? (() => { throw new Error(`unknown workload ${o.workload}`); })();
let sizes = W.sizes.map((b) => b / 1e6);
if (o.size !== null) sizes = sizes.map(() => o.size);
if (o.count !== null) sizes = Array.from({ length: o.count }, (_, i) => sizes[i % sizes.length]);
const parallel = o.parallel ?? W.parallel;

// smooth weighted round robin, as lb_swrr in templates/lib/weights.sh: 4:2:1 -> 0 1 0 2 0 1 0
function swrr(w) {
  const total = w.reduce((s, x) => s + x, 0), c = w.map(() => 0), seq = [];
  for (let k = 0; k < total; k++) {
    let best = 0;
    for (let i = 0; i < w.length; i++) {
      c[i] += w[i];
      if (c[i] > c[best]) best = i;
    }
    c[best] -= total;
    seq.push(best);
  }
  return seq;
}

function weighted(w, rnd) {
  let x = rnd() * w.reduce((s, v) => s + v, 0);
  for (let i = 0; i < w.length; i++) if ((x -= w[i]) < 0) return i;
  return w.length - 1;
}

// the link with the fewest open downloads per unit of weight, the faster on a tie
const leastLoaded = (n, w) => n.map((x, i) => [x / w[i], -w[i], i]).sort((p, q) => p[0] - q[0] || p[1] - q[1])[0][2];

// the order the next new connections take from open counts n: each to the least loaded,
// counting the ones before it (what the learner of branch heavy-least loads, issue 14); with
// none open, the weights' own nth order
function order(n, w, len) {
  if (n.every((x) => x === 0)) return swrr(w);
  const m = [...n], seq = [];
  for (let k = 0; k < len; k++) { const l = leastLoaded(m, w); m[l]++; seq.push(l); }
  return seq;
}

// policies: (w) => { pick(open per link, k-th download, rnd, now, size, bytes left per link) -> link,
// refresh?(open per link, now, k) }. The "every R s" policies see the open counts only when
// the learner samples them (every --refresh seconds, from 0), and the kernel's counter walks
// the order loaded last from its start; "auto": before the learner's second sample it knows
// no capacity (equal weights).
const periodic = (w, auto, make) => {
  let s = swrr(w.map(() => 1)), k0 = 0;
  return {
    refresh: (n, t, k) => { s = make(n, auto && t < o.refresh ? w.map(() => 1) : w); k0 = k; },
    pick: (_n, k) => s[(k - k0) % s.length],
  };
};
// the learner before issue 14: weights = each link's deficit of open connections,
// 2N c/C - n (x10), spread by nth; with none open, the capacities
function deficit(n, w) {
  const N = n.reduce((x, y) => x + y, 0), C = w.reduce((x, y) => x + y, 0);
  let d = n.map((x, i) => Math.max(0, Math.round((20 * N * w[i]) / C) - 10 * x));
  if (N === 0 || d.every((x) => x === 0)) d = w.map((x) => Math.max(1, Math.round((x * 20) / Math.max(...w))));
  const g = d.reduce((x, y) => gcd(x, y));
  return swrr(d.map((x) => x / g));
}
const POLICIES = {
  'howto random 34/33/33': () => ({ pick: (_n, _k, rnd) => (rnd() < 0.34 ? 0 : rnd() < 0.5 ? 1 : 2) }),
  'random by weight': (w) => ({ pick: (_n, _k, rnd) => weighted(w, rnd) }),
  'nth (swrr) by weight': (w) => { const s = swrr(w); return { pick: (_n, k) => s[k % s.length] }; },
  'nth, plain order (a a a a b b c)': (w) => { const s = w.flatMap((x, i) => Array(x).fill(i)); return { pick: (_n, k) => s[k % s.length] }; },
  // size-oblivious placement at its best: each download decided when it starts, from the
  // exact open counts
  'least loaded, at connection time': (w) => ({ pick: (n) => leastLoaded(n, w) }),
  // what no balancer knows: the size. The link where this download ends first, given the
  // bytes still to come on each link
  'by size (oracle)': (w) => ({ pick: (_n, _k, _r, _t, size, left) => w.map((x, i) => [(left[i] + size) / x, i]).sort((p, q) => p[0] - q[0])[0][1] }),
  'auto: deficit weights by nth': (w) => periodic(w, true, deficit),
  // tried for issue 14 (branch heavy-least, not merged): --mode least with configured
  // weights, and --weight auto (learned, from equal) loading that order
  'least: order every R s': (w) => periodic(w, false, (n, x) => order(n, x, 20)),
  'least, auto: order every R s': (w) => periodic(w, true, (n, x) => order(n, x, 20)),
  // the same order loaded LAG s after each connection starts or ends (a learner woken by
  // conntrack's events, not by a clock), with the weights known; and the learner's deficit
  // weights so. The bench's workers start a download the moment one ends, so no decision
  // made after an event is in time for the download that replaces the one that ended
  'least: order LAG s after each event': (w) => ({ ...periodic(w, false, (n, x) => order(n, x, 20)), lag: o.lag }),
  'deficit: LAG s after each event': (w) => ({ ...periodic(w, false, deficit), lag: o.lag }),
};
const gcd = (x, y) => (y ? gcd(y, x % y) : x);

function simulate(policy, w, rnd) {
  const r = o.rates, p = POLICIES[policy](w);
  const n = r.map(() => 0), left = r.map(() => 0);
  let active = [], started = 0, t = 0, nextRefresh = 0;
  // a policy with a lag refreshes LAG s after a start or an end (the first event after the
  // last refresh), not on a clock
  let pending = Infinity;
  const event = () => { if (p.lag !== undefined && pending === Infinity) pending = t + p.lag; };
  const start = () => {
    const size = sizes[started];
    const l = p.pick(n, started++, rnd, t, size, left);
    n[l]++;
    left[l] += size;
    active.push({ l, left: size });
    event();
  };
  const refresh = () => {
    if (p.lag !== undefined) {
      if (t >= pending - 1e-12) { pending = Infinity; p.refresh(n, t, started); }
    } else if (p.refresh && t >= nextRefresh - 1e-12) { p.refresh(n, t, started); nextRefresh += o.refresh; }
  };
  refresh();
  while (started < Math.min(parallel, sizes.length)) start();
  while (active.length) {
    let dt = Math.min(...active.map((d) => d.left / (r[d.l] / n[d.l])));
    if (p.lag !== undefined) dt = Math.min(dt, pending - t);
    else if (p.refresh) dt = Math.min(dt, nextRefresh - t);
    for (const d of active) { const x = dt * (r[d.l] / n[d.l]); d.left -= x; left[d.l] -= x; }
    t += dt;
    const done = active.filter((d) => d.left <= 1e-9);
    active = active.filter((d) => d.left > 1e-9);
    for (const d of done) n[d.l]--;
    if (done.length) event();
    refresh();
    for (let k = 0; k < done.length && started < sizes.length; k++) start();
  }
  return t;
}

const total = sizes.reduce((s, x) => s + x, 0);
const limit = total / o.rates.reduce((s, x) => s + x, 0);
const q = (xs, f) => xs[Math.min(xs.length - 1, Math.floor(f * xs.length))];
const out = {};
const say = (line) => { if (!o.json) console.log(line); };
say(`workload ${o.workload}: ${sizes.length} downloads, ${total.toFixed(1)} MB (largest ${Math.max(...sizes).toFixed(2)} MB), ${parallel} at a time;`);
say(`rates ${o.rates.join(', ')} MB/s; limit ${limit.toFixed(2)} s; R = ${o.refresh} s`);
say(`${'policy'.padEnd(38)} ${'weights'.padEnd(8)} fraction: median   p10   p90${o.seeds ? ` (over ${o.seeds} draws)` : ''}`);
for (const w of o.json ? [[4, 2, 1]] : [[4, 2, 1], [1, 1, 1], [3, 2, 1], [5, 2, 1]]) {
  for (const policy of Object.keys(POLICIES)) {
    if (policy.startsWith('howto') && w.join() !== '1,1,1') continue;
    const rnd = prng(42);
    const deterministic = !/random/.test(policy);
    // every draw is 40 MB: the same limit
    const fr = o.seeds
      ? Array.from({ length: o.seeds }, (_, k) => { sizes = paretoSizes({ seed: k + 1 }).map((b) => b / 1e6); return limit / simulate(policy, w, rnd); })
      : Array.from({ length: deterministic ? 1 : o.trials }, () => limit / simulate(policy, w, rnd));
    out[policy] = fr.map((x) => Math.round(x * 1000) / 1000);
    fr.sort((x, y) => x - y);
    say(`${policy.replace('R s', `${o.refresh} s`).padEnd(38)} ${w.join(':').padEnd(8)}          ${q(fr, 0.5).toFixed(3)}  ${q(fr, 0.1).toFixed(3)} ${q(fr, 0.9).toFixed(3)}`);
  }
}
if (o.json) console.log(JSON.stringify(out));
