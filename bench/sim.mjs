#!/usr/bin/env node
// bench/sim.mjs: a fluid model of the bench workload, to explain the measurements and to try
// policies linkbal does not have. No lab, no root; runs in a second.
//
//   node bench/sim.mjs [--rates 4.77,2.40,1.20] [--count 42] [--parallel 6] [--size 1] [--trials 2000]
//
// Model: each link is a pipe of fixed rate (MB/s) shared equally by the downloads on it
// (ideal TCP fairness, no slow start, no RTT); P workers each start the next download the
// moment their previous one ends (test/lab/client.js's pool); a policy picks the link of a
// download when it starts, as the netfilter rules pick the link of a NEW connection.
// Fraction = (total MB / sum of rates) / time until the last download ends.

const o = { rates: [4.77, 2.40, 1.20], count: 42, parallel: 6, size: 1, trials: 2000 };
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i += 2) {
  const v = a[i + 1];
  if (a[i] === '--rates') o.rates = v.split(',').map(Number);
  else if (a[i] in { '--count': 1, '--parallel': 1, '--size': 1, '--trials': 1 }) o[a[i].slice(2)] = Number(v);
  else throw new Error(`unknown argument ${a[i]}`);
}

// smooth weighted round robin, as lb_swrr in templates/lib/common.sh: 4:2:1 -> 0 1 0 2 0 1 0
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

// policies: (w) => { pick(active per link, k-th download, rnd) -> link }
const POLICIES = {
  'howto random 34/33/33': () => ({ pick: (_n, _k, rnd) => (rnd() < 0.34 ? 0 : rnd() < 0.5 ? 1 : 2) }),
  'random by weight': (w) => ({ pick: (_n, _k, rnd) => weighted(w, rnd) }),
  'nth (swrr) by weight': (w) => { const s = swrr(w); return { pick: (_n, k) => s[k % s.length] }; },
  'nth, plain order (a a a a b b c)': (w) => { const s = w.flatMap((x, i) => Array(x).fill(i)); return { pick: (_n, k) => s[k % s.length] }; },
  // not in linkbal: the link with the fewest open connections per unit of weight
  'least connections / weight': (w) => ({ pick: (n) => n.map((x, i) => [(x + 1) / w[i], -w[i], i]).sort((p, q) => p[0] - q[0] || p[1] - q[1])[0][2] }),
};

function simulate(policy, w, rnd) {
  const r = o.rates, p = POLICIES[policy](w);
  const n = r.map(() => 0);
  let active = [], started = 0, t = 0;
  const start = () => {
    const l = p.pick(n, started++, rnd);
    n[l]++;
    active.push({ l, left: o.size });
  };
  while (started < Math.min(o.parallel, o.count)) start();
  while (active.length) {
    const dt = Math.min(...active.map((d) => d.left / (r[d.l] / n[d.l])));
    for (const d of active) d.left -= dt * (r[d.l] / n[d.l]);
    t += dt;
    const done = active.filter((d) => d.left <= 1e-9);
    active = active.filter((d) => d.left > 1e-9);
    for (const d of done) n[d.l]--;
    for (let k = 0; k < done.length && started < o.count; k++) start();
  }
  return t;
}

// a small deterministic PRNG (mulberry32), so runs repeat
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const limit = (o.count * o.size) / o.rates.reduce((s, x) => s + x, 0);
const q = (xs, f) => xs[Math.min(xs.length - 1, Math.floor(f * xs.length))];
console.log(`rates ${o.rates.join(', ')} MB/s; ${o.count} x ${o.size} MB, ${o.parallel} at a time; limit ${limit.toFixed(2)} s`);
console.log(`${'policy'.padEnd(34)} ${'weights'.padEnd(8)} fraction: median   p10   p90`);
for (const w of [[4, 2, 1], [1, 1, 1], [3, 2, 1], [5, 2, 1]]) {
  for (const policy of Object.keys(POLICIES)) {
    if (policy.startsWith('howto') && w.join() !== '1,1,1') continue;
    const rnd = prng(42);
    const deterministic = !/random/.test(policy);
    const fr = Array.from({ length: deterministic ? 1 : o.trials }, () => limit / simulate(policy, w, rnd)).sort((x, y) => x - y);
    console.log(`${policy.padEnd(34)} ${w.join(':').padEnd(8)}          ${q(fr, 0.5).toFixed(3)}  ${q(fr, 0.1).toFixed(3)} ${q(fr, 0.9).toFixed(3)}`);
  }
}
