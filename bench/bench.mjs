#!/usr/bin/env node
// bench/bench.mjs: linkbal against the physical limit and the 2006 HOWTO's method.
// Run by bench/run.sh (root). See bench/README.md for what is measured and how.
//
//   node bench/bench.mjs [--rounds N] [--draws N] [--only howto,nftables-nth,...] [--workload equal,pareto]
//                        [--out DIR] [--count N] [--parallel P]   (other workloads, for analysis)
//
// Every lab is a fresh lab of the tests' harness, test/lab/lab.ts (network namespaces
// only; 10.x and 203.0.113.x addresses), destroyed when its method is done, and on
// exit/signals (lab.ts does that).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// lab.ts is TypeScript: ts-hooks.js strips its types when node loads it
register('../test/lab/ts-hooks.js', import.meta.url);
const { Lab, uplinkOf } = await import('../test/lab/lab.ts');
const { WORKLOADS, paretoSizes } = await import('./workload.mjs');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const TIMELINE = path.join(HERE, 'timeline.mjs');
const SIM = path.join(HERE, 'sim.mjs');
const GEN = path.join(REPO, 'bin/linkbal-gen');

// ---------------------------------------------------------------- the workload
const W = {
  rates: { wan0: '40mbit', wan1: '20mbit', wan2: '10mbit' },
  size: 1_000_000, // bytes per download when measuring the limit (1 MB, not MiB)
  // bench/workload.mjs: equal (42 x 1 MB) and pareto (60 heavy-tailed sizes, 40 MB), 6 at a time
  workloads: ['equal', 'pareto'],
  count: null, // analysis only: another number of downloads (the sizes cycled)
  parallel: null,
  rounds: 3, // rounds of the equal workload
  // the heavy-tailed mix: one round per draw of its sizes (seeds 1 to draws), so a method's
  // median is over draws, not over repeats of one draw's lottery of where its largest land
  // (10 draws were too few: --weight auto's median was 0.82 over seeds 1-10, 0.89 over 1-30)
  draws: 30,
  aloneCount: 12, // downloads per link when measuring it alone (same size and parallelism)
  singleCount: 4, // ... and one at a time
  hookRounds: 9,
  // every download to another server address, cycled (hash mode needs destinations)
  hosts: Array.from({ length: 60 }, (_, i) => `203.0.113.${10 + i}`),
};
const LINKS = ['wan0', 'wan1', 'wan2'];
const GW = { wan0: '10.1.0.1', wan1: '10.1.1.1', wan2: '10.1.2.1' };
// the health trackers probe the lab's own servers, never a public address
const PROBES = ['--probe', '203.0.113.1', '--probe', '203.0.113.2'];
const LINKBAL_ARGS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--weight', '2',
  '--iface', 'wan2', '--gw', '10.1.2.1', '--weight', '1', '--default-weight', '4', ...PROBES];
// --weight auto: every link's weight learned from what it delivers, from equal starts
const AUTO_ARGS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--weight', 'auto',
  '--iface', 'wan2', '--gw', '10.1.2.1', '--weight', 'auto', ...PROBES];
const MODES = ['nth', 'random', 'hash'];
const BACKENDS = ['iptables', 'nftables'];

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
let only = null;
let outDir = path.join(HERE, 'out');
for (let i = 0; i < argv.length; i++) {
  const v = () => argv[++i] ?? die(`missing value for ${argv[i - 1]}`);
  switch (argv[i]) {
    case '--rounds': W.rounds = Number(v()); break;
    case '--draws': W.draws = Number(v()); break;
    case '--workload': W.workloads = v().split(','); break;
    // analysis only (the bench's workloads are bench/workload.mjs's)
    case '--count': W.count = Number(v()); break;
    case '--parallel': W.parallel = Number(v()); break;
    case '--only': only = new Set(v().split(',')); break;
    case '--out': outDir = path.resolve(v()); break;
    default: die(`unknown argument ${argv[i]}`);
  }
}
const want = (id) => !only || only.has(id);
for (const w of W.workloads) if (!WORKLOADS[w]) die(`unknown workload ${w} (equal, pareto)`);
/** Workload NAME: its rounds (each the sizes in bytes, download i takes sizes[i]; pareto: one
 *  round per draw, round k drawn with seed k + 1), the first round's sizes and its parallelism. */
function workload(name) {
  const base = WORKLOADS[name];
  const n = W.count ?? base.sizes.length;
  const cycle = (xs) => Array.from({ length: n }, (_, i) => xs[i % xs.length]);
  const rounds = name === 'pareto'
    ? Array.from({ length: W.draws }, (_, k) => cycle(paretoSizes({ seed: k + 1 })))
    : Array.from({ length: W.rounds }, () => cycle(base.sizes));
  const sizes = rounds[0];
  // every draw has the same total (40 MB), so one limit time serves them all
  return { name, rounds, sizes, parallel: W.parallel ?? base.parallel, total: sizes.reduce((s, x) => s + x, 0) };
}

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

// ---------------------------------------------------------------- processes
const ENV = { ...process.env, NODE: process.execPath,
  PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin` };

function run(cmd, args, timeoutMs = 300_000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: ENV, timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function ok(cmd, args, timeoutMs) {
  const r = run(cmd, args, timeoutMs);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r;
}

// ---------------------------------------------------------------- labs
// named b<TAG><n>: run.sh destroys whatever of those a killed bench.mjs left
const TAG = process.env.BENCH_TAG || (process.pid % 36 ** 4).toString(36);

/** A lab with the bench's uplinks, and one server address per download on net's lo. */
function withLab(fn) {
  const lab = Lab.create({ uplinks: 3, rate: W.rates, prefix: `b${TAG}` });
  try {
    const add = lab.netexec('net', ['sh', '-c', W.hosts.map((h) => `ip addr add ${h}/32 dev lo`).join('; ')]);
    if (add.status !== 0) throw new Error(`lab ${lab.name}: adding the server addresses failed:\n${add.stderr}`);
    return fn(lab);
  } finally {
    lab.destroy();
  }
}

/** lab.execOk with the bench's longer default timeout. */
const exec = (lab, args, timeoutMs = 300_000) => lab.execOk(args, { timeoutMs });
function lastJson(r) { return JSON.parse(r.stdout.trim().split('\n').pop()); }

/** One round of a workload with test/lab/client.js (lab.download): SIZES, COUNT of them. */
function download(lab, sizes, count, parallel) {
  const r = lab.download(sizes, count, parallel, { hosts: W.hosts });
  if (r.errors) throw new Error(`lab ${lab.name}: ${r.errors} downloads failed`);
  return { seconds: r.seconds, bytes: { ...Object.fromEntries(LINKS.map((l) => [l, 0])), ...r.bytesByUplink } };
}

/** One round with bench/timeline.mjs: the same downloads, with per-download times. */
function timeline(lab, wl) {
  const r = lastJson(exec(lab, [process.execPath, TIMELINE, '--download', wl.sizes.join(','), '--count', String(wl.sizes.length),
    '--parallel', String(wl.parallel), '--hosts', W.hosts.join(',')], 900_000));
  if (r.errors) throw new Error(`lab ${lab.name}: ${r.errors} downloads failed (timeline)`);
  const perLink = {};
  for (const l of LINKS) {
    const ds = r.downloads.filter((d) => uplinkOf(d.client) === l);
    // busy = union of the intervals with at least one download on the link
    let busy = 0, end = 0, lastEnd = 0;
    for (const d of [...ds].sort((a, b) => a.start - b.start)) {
      const s = Math.max(d.start, end);
      if (d.end > s) busy += d.end - s;
      end = Math.max(end, d.end);
      lastEnd = Math.max(lastEnd, d.end);
    }
    perLink[l] = { downloads: ds.length, lastEnd: round3(lastEnd), busy: round3(busy), idle: round3(r.seconds - busy) };
  }
  return { seconds: r.seconds, order: r.downloads.map((d) => uplinkOf(d.client)), perLink, downloads: r.downloads
    .map((d) => ({ i: d.i, bytes: d.bytes, link: uplinkOf(d.client), start: round3(d.start), end: round3(d.end) })) };
}

const round3 = (x) => Math.round(x * 1000) / 1000;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
function medianRound(rounds) {
  const m = median(rounds.map((r) => r.seconds));
  return rounds.reduce((best, r) => (Math.abs(r.seconds - m) < Math.abs(best.seconds - m) ? r : best));
}

function ifupAll(lab) { for (const l of LINKS) exec(lab, ['ifup', l]); }

function hookCost(lab, kind) {
  const out = exec(lab, ['bash', path.join(HERE, 'hookcost.sh'), kind, String(W.hookRounds), lab.state]).stdout;
  const rows = (k) => out.split('\n').filter((l) => l.startsWith(`${k} `)).map((l) => l.split(' ').slice(1));
  const hook = rows('hook').map((r) => r.map(Number));
  const iud = rows('ifupdown').map((r) => r.map(Number));
  const procs = Object.fromEntries(rows('procs').map(([w, f, e]) => [w, { forks: Number(f), execs: Number(e) }]));
  return {
    downMs: median(hook.map((r) => r[0])), upMs: median(hook.map((r) => r[1])),
    ifdownMs: iud.length ? median(iud.map((r) => r[0])) : null, ifupMs: iud.length ? median(iud.map((r) => r[1])) : null,
    procs, raw: { hook, ifupdown: iud },
  };
}

// ---------------------------------------------------------------- the measurements
const results = { date: new Date().toISOString(), host: hostInfo(), workload: { ...W, hosts: `${W.hosts[0]}..${W.hosts.at(-1)}` },
  workloads: Object.fromEntries(W.workloads.map((w) => [w, workload(w)])),
  limit: null, methods: [] };

function hostInfo() {
  const r = (c, a) => run(c, a).stdout.trim();
  return { kernel: r('uname', ['-r']), cpus: r('nproc', []), node: process.version,
    iptables: r('iptables', ['-V']), nft: r('nft', ['--version']),
    linkbal: r(GEN, ['--version']),
    // the tree benchmarked: its commit, and whether src/ or templates/ had changes not committed
    commit: process.env.BENCH_COMMIT || r('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']) || 'unknown',
    uncommitted: process.env.BENCH_COMMIT ? false : r('git', ['-C', REPO, 'status', '--porcelain', '--', 'src', 'templates']) !== '' };
}

function measureLimit() {
  log(`limit: each uplink alone, ${W.aloneCount} x ${W.size} B 6 at a time, and ${W.singleCount} one at a time, ${W.rounds} rounds`);
  return withLab((lab) => {
    ifupAll(lab);
    const links = {};
    for (const l of LINKS) {
      // pin every server address to this uplink in the main table (no netfilter at all)
      exec(lab, ['ip', 'route', 'replace', '203.0.113.0/24', 'via', GW[l], 'dev', l]);
      const rounds = [];
      for (let k = 0; k < W.rounds; k++) {
        // the workload's parallelism, and one connection at a time (which loses nothing to
        // several flows overflowing tbf's queue); the link's rate is the better of the two
        const r = download(lab, [W.size], W.aloneCount, 6);
        const s = download(lab, [W.size], W.singleCount, 1);
        for (const [x, n] of [[r, W.aloneCount], [s, W.singleCount]]) {
          if (x.bytes[l] !== n * W.size) throw new Error(`limit ${l}: bytes went elsewhere: ${JSON.stringify(x.bytes)}`);
        }
        rounds.push({ parallelRate: r.bytes[l] / r.seconds, singleRate: s.bytes[l] / s.seconds });
      }
      exec(lab, ['ip', 'route', 'del', '203.0.113.0/24']);
      const parallelRate = median(rounds.map((r) => r.parallelRate));
      const singleRate = median(rounds.map((r) => r.singleRate));
      links[l] = { rate: Math.max(parallelRate, singleRate), parallelRate, singleRate, rounds };
      log(`  ${l}: ${(parallelRate * 8 / 1e6).toFixed(2)} Mbit/s of payload with 6 connections, ${(singleRate * 8 / 1e6).toFixed(2)} with one`);
    }
    // baseline of the hook cost: ifdown/ifup wan1 with no hooks installed
    const base = hookCostBaseline(lab);
    const sum = LINKS.reduce((s, l) => s + links[l].rate, 0);
    // per workload: the time its bytes take at the sum of the rates, and the ideal split
    const per = Object.fromEntries(Object.values(results.workloads).map((wl) => [wl.name, { seconds: wl.total / sum,
      idealBytes: Object.fromEntries(LINKS.map((l) => [l, wl.total * links[l].rate / sum])) }]));
    return { links, sumRate: sum, workloads: per, baseline: base };
  });
}

/** The fluid model's fraction for each draw of the heavy-tailed mix, at this run's rates. */
function model() {
  const rates = LINKS.map((l) => (results.limit.links[l].rate / 1e6).toFixed(2)).join(',');
  const r = ok(process.execPath, [SIM, '--workload', 'pareto', '--seeds', String(W.draws), '--rates', rates, '--json']);
  const all = JSON.parse(r.stdout);
  const keep = ['nth (swrr) by weight', 'least loaded, at connection time', 'auto: deficit weights by nth', 'by size (oracle)'];
  return { rates, policies: Object.fromEntries(keep.map((p) => [p, all[p]])) };
}

function hookCostBaseline(lab) {
  const script = `for i in $(seq ${W.hookRounds}); do t0=$EPOCHREALTIME; ifdown wan1 2>/dev/null; t1=$EPOCHREALTIME; ifup wan1 2>/dev/null; t2=$EPOCHREALTIME;
    awk -v a=$t0 -v b=$t1 -v c=$t2 'BEGIN { printf "%.2f %.2f\\n", (b - a) * 1000, (c - b) * 1000 }'; done`;
  const rows = exec(lab, ['bash', '-c', script]).stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
  return { ifdownMs: median(rows.map((r) => r[0])), ifupMs: median(rows.map((r) => r[1])) };
}

/** --weight auto: sample the learner's estimates (/run/linkbal/learn/MARK) every 0.1 s for
 *  SECONDS in the background; learnedAfter() reads when every link's came within 15% of its
 *  rate alone (the limit's), in seconds since the round started. */
function sampleLearner(lab, seconds) {
  const file = path.join(lab.state, 'learn.samples');
  exec(lab, ['sh', '-c', `rm -f ${file}; setsid bash -c 'for i in $(seq ${seconds * 10}); do echo "$EPOCHREALTIME $(cd /run/linkbal/learn 2>/dev/null && for f in [0-9]*; do read -r t rx e <$f; printf "%s:%s " $f $e; done)"; sleep 0.1; done' >${file} 2>/dev/null </dev/null &`]);
  const t0 = Date.now() / 1000;
  return () => {
    const unit = 0x1000000; // the bench's marks: the default mask's lowest bit times 1, 2, 3
    for (const line of fs.readFileSync(file, 'utf8').trim().split('\n')) {
      const [t, ...ests] = line.trim().split(' ');
      const est = Object.fromEntries(ests.map((x) => x.split(':').map(Number)).map(([mk, e]) => [LINKS[mk / unit - 1], e]));
      if (LINKS.every((l) => est[l] && Math.abs(est[l] / results.limit.links[l].rate - 1) <= 0.15)) return round3(Number(t) - t0);
    }
    return null;
  };
}

/** CPU seconds the lab's learner used so far, its children (every program a step runs) included. */
function learnerCpu(lab) {
  const hz = 100; // USER_HZ, the unit of /proc/PID/stat's times on Linux
  let s = 0;
  for (const pid of run('ip', ['netns', 'pids', `lb-${lab.name}-host`]).stdout.split('\n').filter(Boolean)) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd[1] !== '/etc/linkbal/learner') continue;
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      s += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / hz; // utime stime cutime cstime
    } catch { /* ended meanwhile */ }
  }
  return s;
}

function measureMethod(m) {
  log(`${m.id}: ${W.workloads.map((w) => (w === 'pareto' ? `${W.draws} draws of pareto` : `${W.rounds} rounds of ${w}`)).join(', ')}`);
  return withLab((lab) => {
    if (m.kind === 'howto') {
      ifupAll(lab);
      exec(lab, ['sh', path.join(HERE, 'howto.sh'), 'start']);
    } else {
      ok(GEN, [...(m.auto ? AUTO_ARGS : LINKBAL_ARGS), '--mode', m.mode, '--backend', m.backend, '--root', lab.root]);
      ifupAll(lab); // the hooks take wan1 and wan2 in
      const st = exec(lab, ['/etc/linkbal/rules', 'status']).stdout;
      for (const l of ['wan1', 'wan2']) {
        if (!new RegExp(`^${l}\\s+up\\b`, 'm').test(st)) throw new Error(`${m.id}: ${l} not up in linkbal status:\n${st}`);
      }
    }
    const out = [];
    for (const wl of Object.values(results.workloads)) {
      log(`  ${wl.name}: ${wl.sizes.length} downloads, ${(wl.total / 1e6).toFixed(1)} MB, ${wl.parallel} at a time`
        + (wl.name === 'pareto' ? `, ${wl.rounds.length} draws` : ''));
      const rounds = [];
      for (const [k, sizes] of wl.rounds.entries()) {
        // learned weights: every round starts from equal weights (stop forgets what was learned)
        if (m.auto) exec(lab, ['sh', '-c', '/etc/linkbal/rules stop && /etc/linkbal/rules start']);
        const learned = m.auto ? sampleLearner(lab, 4) : null;
        const cpu0 = learnerCpu(lab);
        const r = download(lab, sizes, sizes.length, wl.parallel);
        // the learner's share of one core over the round (--mode least, --weight auto)
        r.learnerCpu = round3((learnerCpu(lab) - cpu0) / r.seconds);
        if (m.auto) {
          r.learnedAfter = learned();
          const st = exec(lab, ['/etc/linkbal/rules', 'status']).stdout;
          r.learned = ['default', 'wan1', 'wan2'].map((l) => new RegExp(`^${l}\\s+up\\s+\\S+\\s+(\\d+)`, 'm').exec(st)?.[1]).join(':');
          log(`  capacities within 15% after ${r.learnedAfter} s; weights at the end ${r.learned}`);
        }
        rounds.push(r);
        log(`  ${wl.name === 'pareto' ? 'draw' : 'round'} ${k + 1}: ${r.seconds.toFixed(2)} s  ${LINKS.map((l) => `${l} ${(r.bytes[l] / 1e6).toFixed(2)} MB`).join(', ')}`
          + (r.learnerCpu ? `; learner ${(r.learnerCpu * 100).toFixed(1)}% of a core` : ''));
      }
      if (m.auto) exec(lab, ['sh', '-c', '/etc/linkbal/rules stop && /etc/linkbal/rules start']);
      const tl = timeline(lab, wl);
      log(`  timeline round: ${tl.seconds.toFixed(2)} s; last download ends ${LINKS.map((l) => `${l} ${tl.perLink[l].lastEnd}`).join(', ')}`);
      const med = medianRound(rounds);
      out.push({ ...m, workload: wl.name, seconds: median(rounds.map((r) => r.seconds)), bytes: med.bytes, rounds, timeline: tl });
    }
    let hooks = null;
    try {
      hooks = hookCost(lab, m.kind);
      log(`  hooks: down ${hooks.downMs} ms, up ${hooks.upMs} ms, processes up ${hooks.procs.up?.forks} down ${hooks.procs.down?.forks}`);
    } catch (e) {
      log(`  hooks: not measured: ${e.message}`); // the throughput above stands
    }
    for (const x of out) x.hooks = hooks;
    return out;
  });
}

const METHODS = [
  { id: 'howto', kind: 'howto', label: "HOWTO's random method (34/33/33)", mode: 'random', backend: 'iptables' },
  ...BACKENDS.flatMap((b) => MODES.map((mode) => ({ id: `${b}-${mode}`, kind: 'linkbal', label: 'linkbal 4:2:1', mode, backend: b }))),
  // least: nftables only (iptables cannot count a link's connections when a new one comes)
  { id: 'nftables-least', kind: 'linkbal', label: 'linkbal 4:2:1', mode: 'least', backend: 'nftables' },
  ...BACKENDS.map((b) => ({ id: `${b}-auto`, kind: 'linkbal', label: 'linkbal --weight auto (equal start)', mode: 'nth', backend: b, auto: true })),
  { id: 'nftables-auto-least', kind: 'linkbal', label: 'linkbal --weight auto (equal start)', mode: 'least', backend: 'nftables', auto: true },
];

const t0 = Date.now();
try {
  results.limit = measureLimit();
  log(`limit: ${(results.limit.sumRate * 8 / 1e6).toFixed(2)} Mbit/s together -> ${Object.entries(results.limit.workloads).map(([w, x]) => `${x.seconds.toFixed(2)} s for ${w}`).join(', ')}`);
  if (results.workloads.pareto && W.count === null && W.parallel === null) results.model = model();
  for (const m of METHODS) if (want(m.id)) results.methods.push(...measureMethod(m));
} catch (e) {
  die(`failed, no results written: ${e.message}`);
}
for (const m of results.methods) {
  const limit = results.limit.workloads[m.workload].seconds;
  m.fraction = limit / m.seconds;
  m.fractions = m.rounds.map((r) => limit / r.seconds);
}
results.benchSeconds = (Date.now() - t0) / 1000;

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
const md = markdown(results);
fs.writeFileSync(path.join(outDir, 'results.md'), md);
fs.writeFileSync(path.join(outDir, 'bytes.svg'), svg(results));
process.stdout.write(md);
log(`wrote ${path.relative(process.cwd(), outDir)}/results.md, results.json, bytes.svg (${results.benchSeconds.toFixed(0)} s)`);

// ---------------------------------------------------------------- output
function markdown(R) {
  const L = R.limit;
  const mb = (b) => (b / 1e6).toFixed(1);
  const mbit = (r) => (r * 8 / 1e6).toFixed(1);
  const f2 = (x) => (x == null ? '–' : x.toFixed(2));
  const f1 = (x) => (x == null ? '–' : x.toFixed(1));
  const lines = [];
  lines.push(`# linkbal bench, ${R.date.slice(0, 16).replace('T', ' ')} UTC`);
  lines.push('');
  lines.push(`linkbal ${R.host.linkbal} at ${R.host.commit}${R.host.uncommitted ? ' with uncommitted changes in src/ or templates/' : ''}; `
    + `kernel ${R.host.kernel}, ${R.host.cpus} CPUs, node ${R.host.node}, ${R.host.iptables}, ${R.host.nft}.`);
  lines.push('');
  lines.push(`Workloads (bench/workload.mjs): ${Object.values(R.workloads).map((w) => `${w.name}: ${w.sizes.length} downloads, `
    + `${(w.total / 1e6).toFixed(1)} MB (largest ${(Math.max(...w.sizes) / 1e6).toFixed(2)} MB), ${w.parallel} at a time`).join('; ')}; to ${R.workload.hosts} `
    + `(download i to address i), from the router itself; uplinks shaped ${LINKS.map((l) => `${l} ${W.rates[l]}`).join(', ')} `
    + `(download direction, tbf); equal: median of ${R.workload.rounds} rounds; pareto: median over ${R.workload.draws} draws of its sizes `
    + `(seeds 1 to ${R.workload.draws}, one round each). Fraction = limit time / time (median, and each round's or draw's). `
    + `Hook columns: wan1's if-down.d / if-up.d hook alone (median of ${W.hookRounds}), processes it starts (forks / programs run), `
    + `and whole \`ifup wan1\` (ifupdown with the hooks; without any: ${f1(L.baseline.ifupMs)} ms).`);
  lines.push('');
  lines.push('| workload | method | mode | backend | time s | fraction of limit | rounds or draws (fraction) | wan0 MB | wan1 MB | wan2 MB | down hook ms | up hook ms | processes down / up | ifup wan1 ms |');
  lines.push('|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|');
  for (const [w, x] of Object.entries(L.workloads)) {
    lines.push(`| ${w} | physical limit: each link alone (${LINKS.map((l) => mbit(L.links[l].rate)).join(' + ')} Mbit/s) | – | – | ${f2(x.seconds)} | 1.00 | `
      + `– | ${LINKS.map((l) => mb(x.idealBytes[l])).join(' | ')} | – | – | – | ${f1(L.baseline.ifupMs)} (no hooks) |`);
  }
  for (const m of [...R.methods].sort((a, b) => (a.workload > b.workload) - (a.workload < b.workload))) {
    const h = m.hooks ?? { procs: {} };
    const p = (w) => (h.procs[w] ? `${h.procs[w].forks}/${h.procs[w].execs}` : '–');
    lines.push(`| ${m.workload} | ${m.label} | ${m.mode} | ${m.backend} | ${f2(m.seconds)} | **${f2(m.fraction)}** | `
      + `${m.rounds.map((r, i) => `${r.seconds.toFixed(2)} (${m.fractions[i].toFixed(2)})`).join(', ')} | ${LINKS.map((l) => mb(m.bytes[l])).join(' | ')} | `
      + `${f1(h.downMs)} | ${f1(h.upMs)} | ${p('down')} / ${p('up')} | ${f1(h.ifupMs)} |`);
  }
  lines.push('');
  lines.push(`Limit: each link's payload rate alone is the better of ${W.aloneCount} downloads of 1 MB 6 at a time `
    + `(${LINKS.map((l) => mbit(L.links[l].parallelRate)).join(', ')} Mbit/s) and ${W.singleCount} one at a time `
    + `(${LINKS.map((l) => mbit(L.links[l].singleRate)).join(', ')} Mbit/s), median of ${R.workload.rounds} rounds each; `
    + `limit time = total bytes / sum of the rates. Per-link MB: for the limit row, the ideal split (by measured rate); `
    + `for methods, the median round. Chart: bytes.svg.`);
  lines.push('');
  if (R.model) {
    lines.push(`The heavy-tailed draws in the fluid model (\`node bench/sim.mjs --workload pareto --seeds ${R.workload.draws} --rates `
      + `${R.model.rates}\`, this run's rates, 4:2:1), next to the lab's rounds: fraction of the limit, draw by draw, and the median.`);
    lines.push('');
    const draws = R.model.policies[Object.keys(R.model.policies)[0]].length;
    lines.push(`| | ${Array.from({ length: draws }, (_, k) => `seed ${k + 1}`).join(' | ')} | median |`);
    lines.push(`|---|${Array.from({ length: draws + 1 }, () => '---:').join('|')}|`);
    for (const [p, fr] of Object.entries(R.model.policies)) lines.push(`| model: ${p} | ${fr.map(f2).join(' | ')} | ${f2(median(fr))} |`);
    for (const m of R.methods.filter((x) => x.workload === 'pareto')) {
      lines.push(`| lab: ${m.kind === 'howto' ? 'HOWTO' : `${m.backend} ${m.auto ? `auto, ${m.mode}` : m.mode}`} | ${m.fractions.map(f2).join(' | ')} | ${f2(median(m.fractions))} |`);
    }
    lines.push('');
  }
  lines.push('Analysis round (bench/timeline.mjs, one more round per method): when each link\'s last download ended and how long the link had nothing to carry, in seconds.');
  lines.push('');
  lines.push(`| workload | method | mode | backend | time s | ${LINKS.map((l) => `${l} last end / idle`).join(' | ')} |`);
  lines.push(`|---|---|---|---|---:|${LINKS.map(() => '---').join('|')}|`);
  for (const m of R.methods) {
    const t = m.timeline;
    lines.push(`| ${m.workload} | ${m.kind}${m.auto ? ' auto' : ''} | ${m.mode} | ${m.backend} | ${f2(t.seconds)} | ${LINKS.map((l) => `${f2(t.perLink[l].lastEnd)} / ${f2(t.perLink[l].idle)}`).join(' | ')} |`);
  }
  const busy = R.methods.filter((m) => m.rounds.some((r) => r.learnerCpu));
  if (busy.length) {
    lines.push('');
    lines.push('The learner (`/etc/linkbal/learner`, with its children) during the timed rounds, percent of one core:');
    lines.push('');
    lines.push('| workload | method | backend | learner CPU %, each round |');
    lines.push('|---|---|---|---|');
    for (const m of busy) lines.push(`| ${m.workload} | ${m.auto ? `auto, ${m.mode}` : m.mode} | ${m.backend} | ${m.rounds.map((r) => (r.learnerCpu * 100).toFixed(1)).join(', ')} |`);
  }
  const auto = R.methods.filter((m) => m.auto);
  if (auto.length) {
    lines.push('');
    lines.push('`--weight auto`: seconds from the start of a round (from nothing learned) until every link\'s capacity estimate was within 15% of its rate alone.');
    lines.push('');
    lines.push('| workload | mode | backend | learned after s, each round |');
    lines.push('|---|---|---|---|');
    for (const m of auto) lines.push(`| ${m.workload} | ${m.mode} | ${m.backend} | ${m.rounds.map((r) => f2(r.learnedAfter)).join(', ')} |`);
  }
  lines.push('');
  return lines.join('\n');
}

function svg(R) {
  const ms = R.methods.filter((m) => m.workload === R.methods[0]?.workload);
  const groups = [{ name: 'ideal (limit)', bytes: R.limit.workloads[ms[0]?.workload ?? 'equal']?.idealBytes ?? {} },
    ...ms.map((m) => ({ name: m.kind === 'howto' ? 'HOWTO random' : `${m.backend.slice(0, 3)} ${m.auto ? 'auto' : m.mode}`, bytes: m.bytes }))];
  const colors = { wan0: '#1f77b4', wan1: '#ff7f0e', wan2: '#2ca02c' };
  const maxB = Math.max(...groups.flatMap((g) => LINKS.map((l) => g.bytes[l])));
  const top = Math.ceil(maxB / 5e6) * 5e6;
  const bw = 18, gap = 26, left = 50, plotH = 260, topPad = 50;
  const gw = LINKS.length * bw + gap;
  const width = Math.max(560, left + groups.length * gw + 20), height = topPad + plotH + 60;
  const y = (b) => topPad + plotH - (b / top) * plotH;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">Bytes per uplink, ${R.workload.count} x 1 MB (median round), ${R.date.slice(0, 10)}</text>`);
  LINKS.forEach((l, k) => {
    out.push(`<rect x="${left + k * 110}" y="28" width="12" height="12" fill="${colors[l]}"/><text x="${left + k * 110 + 16}" y="38">${l} (${W.rates[l]})</text>`);
  });
  for (let b = 0; b <= top; b += 5e6) {
    out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(b)}" y2="${y(b)}" stroke="#ddd"/><text x="${left - 6}" y="${y(b) + 4}" text-anchor="end">${b / 1e6}</text>`);
  }
  out.push(`<text x="12" y="${topPad + plotH / 2}" transform="rotate(-90 12 ${topPad + plotH / 2})" text-anchor="middle">MB</text>`);
  groups.forEach((g, gi) => {
    const x0 = left + 10 + gi * gw;
    LINKS.forEach((l, k) => {
      const v = g.bytes[l];
      out.push(`<rect x="${x0 + k * bw}" y="${y(v).toFixed(1)}" width="${bw - 2}" height="${(topPad + plotH - y(v)).toFixed(1)}" fill="${colors[l]}"${gi === 0 ? ' fill-opacity="0.45"' : ''}><title>${g.name} ${l}: ${(v / 1e6).toFixed(1)} MB</title></rect>`);
      out.push(`<text x="${x0 + k * bw + (bw - 2) / 2}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" font-size="9">${Math.round(v / 1e6)}</text>`);
    });
    out.push(`<text x="${x0 + (LINKS.length * bw) / 2}" y="${topPad + plotH + 16}" text-anchor="middle">${g.name}</text>`);
    const m = ms[gi - 1];
    if (m) out.push(`<text x="${x0 + (LINKS.length * bw) / 2}" y="${topPad + plotH + 30}" text-anchor="middle" fill="#555">${m.fraction.toFixed(2)} of limit</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
