#!/usr/bin/env node
// bench/health.mjs: health tracking, measured. Run by bench/run.sh (root) after bench.mjs.
//
//   node bench/health.mjs [--rounds N] [--out DIR]
//
// One lab (test/lab/lab.ts): the default link wan0 (weight 1), wan1 (weight 2) and wan2
// (weight 1), the HOWTO's layout of issue 10. An outage is wan1's ISP dropping everything
// it would forward while its own address still answers. Probes go to the lab's servers.
//   detection, recovery  time from the cut (the repair) until `rules status` says dead
//                        (ok), over N outages a minute apart (not flaps): median, maximum
//   failed connections   share of new connections that failed during a 20 s outage,
//                        tracking on, and off (--probe none) in the same lab
//   false transitions    event.d lines over a minute of 5% loss on every ISP
//   tracker CPU          CPU time of the three trackers and everything they ran, over 30 s
// Writes DIR/health.md (printed too) and DIR/health.json.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

register('../test/lab/ts-hooks.js', import.meta.url);
const { Lab, uplinkOf } = await import('../test/lab/lab.ts');

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GEN = path.join(HERE, '..', 'bin/linkbal-gen');
const ARGS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--weight', '2', '--iface', 'wan2', '--gw', '10.1.2.1'];
const PROBES = ['--probe', '203.0.113.1', '--probe', '203.0.113.2'];

let rounds = 3;
let outDir = path.join(HERE, 'out');
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--rounds') rounds = Number(process.argv[++i]);
  else if (a === '--out') outDir = path.resolve(process.argv[++i] ?? '');
  else throw new Error(`health.mjs: unknown argument ${a}`);
}
const log = (m) => process.stderr.write(`bench: health: ${m}\n`);
const sleep = (ms) => spawnSync('sleep', [String(ms / 1000)]);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };

const lab = Lab.create({ uplinks: 3, prefix: `b${process.env.BENCH_TAG || 'h'}` });
try {
  const ok = (cmd) => {
    const r = lab.exec(cmd);
    if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const render = (...more) => {
    const r = spawnSync(process.execPath, [GEN, ...ARGS, ...more, '--root', lab.root], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`linkbal-gen: ${r.stderr}`);
    ok(['/etc/linkbal/rules', 'restart']);
  };
  const cut = (isp, rule = 'policy drop;') => lab.netexec(isp, ['nft',
    `add table ip outage; add chain ip outage cut { type filter hook forward priority 0; ${rule.startsWith('policy') ? rule : ''} };`
    + (rule.startsWith('policy') ? '' : ` add rule ip outage cut ${rule}`)]);
  const heal = (isp) => lab.netexec(isp, ['nft', 'delete table ip outage']);
  const health = () => {
    const s = ok(['/etc/linkbal/rules', 'status']);
    const rows = s.slice(s.indexOf('\nhealth (')).split('\n').slice(3).filter(Boolean);
    return Object.fromEntries(rows.map((r) => r.split(/\s+/).slice(0, 2)));
  };
  const until = (pred, limitMs) => {
    const start = Date.now();
    while (!pred()) {
      if (Date.now() - start > limitMs) throw new Error(`not within ${limitMs} ms: ${JSON.stringify(health())}`);
      sleep(20);
    }
    return Date.now() - start;
  };
  /** new connections, 6 at a time with a 2 s timeout, for `ms`: [failed, total] */
  const traffic = (ms) => {
    let failed = 0;
    let total = 0;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const r = lab.connections(12, { parallel: 6, timeout: 2000 });
      failed += r.errors;
      total += r.order.length + r.errors;
    }
    return [failed, total];
  };

  for (const i of ['wan0', 'wan1', 'wan2']) lab.ifup(i);
  ok(['sh', '-c', 'mkdir -p /etc/linkbal/event.d && printf \'#!/bin/sh\\necho "$LINK $STATE" >>/run/linkbal-events\\n\''
    + ' >/etc/linkbal/event.d/count && chmod 755 /etc/linkbal/event.d/count']);
  render(...PROBES);
  until(() => Object.keys(health()).length === 3 && Object.values(health()).every((h) => h === 'ok'), 10_000);

  const detect = [];
  const recover = [];
  for (let k = 0; k < rounds; k++) {
    cut('isp1');
    detect.push(until(() => health().wan1 === 'dead', 10_000));
    sleep(2000);
    heal('isp1');
    recover.push(until(() => health().wan1 === 'ok', 20_000));
    // the next outage after the flap window (60 s): each is a first one, not a flap
    if (k + 1 < rounds) sleep(61_000);
    log(`outage ${k + 1}: out after ${detect[k]} ms, back after ${recover[k]} ms`);
  }

  const outage = (tracking) => {
    render(...(tracking ? PROBES : ['--probe', 'none']));
    sleep(1000);
    cut('isp1');
    const [failed, total] = traffic(20_000);
    heal('isp1');
    sleep(tracking ? 5000 : 1000);
    log(`20 s outage, tracking ${tracking ? 'on' : 'off'}: ${failed} of ${total} new connections failed`);
    return { failed, total };
  };
  const withTracking = outage(true);
  const withoutTracking = outage(false);

  render(...PROBES);
  until(() => Object.keys(health()).length === 3, 10_000);
  ok(['sh', '-c', ': >/run/linkbal-events']);
  for (const isp of ['isp0', 'isp1', 'isp2']) cut(isp, 'numgen random mod 100 < 5 drop');
  sleep(60_000);
  for (const isp of ['isp0', 'isp1', 'isp2']) heal(isp);
  const falseTransitions = ok(['sh', '-c', 'cat /run/linkbal-events']).split('\n').filter(Boolean).length;
  log(`a minute of 5% loss on every ISP: ${falseTransitions} transitions`);

  // CPU: every process in the lab's host namespace is linkbal's now (trackers, their
  // pings and loops), with what they reaped (cutime, cstime); clock ticks of 1/100 s
  const ticks = () => {
    const pids = spawnSync('ip', ['netns', 'pids', `lb-${lab.name}-host`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    let sum = 0;
    for (const p of pids) {
      try {
        const f = fs.readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
        sum += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      } catch { /* gone */ }
    }
    return sum;
  };
  const t0 = ticks();
  const w0 = Date.now();
  sleep(30_000);
  const cpu = (ticks() - t0) / 100 / ((Date.now() - w0) / 1000);
  log(`tracker CPU, three links: ${(cpu * 100).toFixed(2)}% of one core`);

  const res = {
    rounds, detectMs: detect, recoverMs: recover,
    withTracking, withoutTracking, falseTransitions, cpuShare: cpu,
  };
  const pct = (o) => `${(100 * o.failed / o.total).toFixed(1)}% (${o.failed} of ${o.total})`;
  const md = [
    '## Health tracking',
    '',
    `| | tracking (--probe, 2 targets) | no tracking (--probe none) |`,
    '|---|---|---|',
    `| detection after the upstream is cut, median / max over ${rounds} | ${(median(detect) / 1000).toFixed(2)} s / ${(Math.max(...detect) / 1000).toFixed(2)} s | never |`,
    `| recovery after the repair, median / max | ${(median(recover) / 1000).toFixed(2)} s / ${(Math.max(...recover) / 1000).toFixed(2)} s | - |`,
    `| new connections failed during a 20 s outage | ${pct(withTracking)} | ${pct(withoutTracking)} |`,
    `| transitions over a minute of 5% loss on every ISP | ${falseTransitions} | - |`,
    `| CPU of three trackers | ${(cpu * 100).toFixed(2)}% of one core | 0 |`,
    '',
  ].join('\n');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'health.md'), md);
  fs.writeFileSync(path.join(outDir, 'health.json'), JSON.stringify(res, null, 2));
  process.stdout.write(md);
} finally {
  lab.destroy();
}
