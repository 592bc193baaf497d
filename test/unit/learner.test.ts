// The learner's arithmetic (templates/lib/learner.sh) without root: the rendered rules and
// learner sourced by sh (LB_SOURCED=1), with the state in a temporary directory, and the
// world replaced at the runtime's own seams: LB_UPTIME (the clock, /proc/uptime), LB_SYSNET
// (the device counters in /sys/class/net), lb_conntrack (the connections), lb_reweigh (the
// load). Each test is a sequence of steps; after each, what the learner wrote and whether
// it loaded weights.
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { cli, sh, tmpdir } from '../helpers.js';

let lib = '';

beforeAll(async () => {
  const root = tmpdir();
  const r = await cli(['--iface', 'wan1', '--gw', '10.1.1.1', '--weight', 'auto', '--iface', 'wan2', '--gw', '10.1.2.1',
    '--weight', 'auto', '--backend', 'nftables', '--mark-mask', '0xff', '--root', root]); // marks 1, 2, 3
  expect(r.code, r.stderr).toBe(0);
  const rules = fs.readFileSync(path.join(root, 'etc/linkbal/rules'), 'utf8');
  // the learner program without its first lines (which source /etc/linkbal/rules) and its last
  const learner = fs.readFileSync(path.join(root, 'etc/linkbal/learner'), 'utf8')
    .replace(/^[^]*?\n\. \/etc\/linkbal\/rules\n/, '').replace(/lb_learner_main\n$/, '');
  lib = path.join(root, 'lib.sh');
  fs.writeFileSync(lib, `LB_SOURCED=1\n${rules}\n${learner}`);
});

interface Step {
  /** seconds since boot */
  t: number;
  /** bytes received so far per device */
  rx: Record<string, number>;
  /** open connections per mark (TCP, established) */
  open?: Record<number, number>;
}

/** Run the steps in one sh (MODE: the rules' mode); return per step the weights file, whether
 *  lb_reweigh ran, and whether the step read conntrack. */
function learn(steps: Step[], mode = 'nth'): { weights: string; applied: boolean; conntrack: boolean; estimates: Record<string, string> }[] {
  const run = tmpdir('linkbal-learner-');
  const script = [
    `RUN=${run}`, // the state paths follow RUN: set them again under it
    `. '${lib}'`,
    `RUN=${run}; LB_UP=$RUN/up; LB_LEARN=$RUN/learn; LB_DEFAULT_DOWN=$RUN/default-down; MODE=${mode}`,
    'mkdir -p "$LB_UP"; echo "10.1.1.1 2 102" >"$LB_UP/wan1"; echo "10.1.2.1 3 103" >"$LB_UP/wan2"',
    'LB_UPTIME=$RUN/now LB_SYSNET=$RUN/sys',
    'lb_conntrack() { echo yes >"$RUN/read"; cat "$RUN/ct" 2>/dev/null; }',
    'lb_reweigh() { echo yes >"$RUN/applied"; }',
    ...steps.flatMap((s) => [
      `echo ${s.t.toFixed(2)} 0.00 >"$RUN/now"`,
      ...Object.entries(s.rx).map(([dev, b]) => `mkdir -p "$RUN/sys/${dev}/statistics"; echo ${b} >"$RUN/sys/${dev}/statistics/rx_bytes"`),
      `: >"$RUN/ct"; rm -f "$RUN/applied" "$RUN/read"`,
      ...Object.entries(s.open ?? {}).flatMap(([mark, n]) => Array.from({ length: n }, (_, k) =>
        `echo "ipv4 2 tcp 6 431999 ESTABLISHED src=10.0.0.1 dst=203.0.113.1 sport=${1000 + k} dport=80 mark=${mark} use=1" >>"$RUN/ct"`)),
      'lb_learn wan0 "$(lb_devices)"',
      'echo "weights=$(cat "$LB_LEARN/weights" 2>/dev/null) applied=$(cat "$RUN/applied" 2>/dev/null) read=$(cat "$RUN/read" 2>/dev/null)' +
        ' est1=$(cat "$LB_LEARN/1") est2=$(cat "$LB_LEARN/2") est3=$(cat "$LB_LEARN/3" 2>/dev/null)"',
    ]),
  ].join('\n');
  const r = sh(script);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n').map((line) => {
    const m = /^weights=(.*) applied=(\w*) read=(\w*) est1=(.*) est2=(.*) est3=(.*)$/.exec(line);
    if (!m) throw new Error(`unexpected line: ${line}`);
    const est = (s: string) => s.split(' ')[2] ?? '';
    return { weights: m[1] as string, applied: m[2] === 'yes', conntrack: m[3] === 'yes',
      estimates: { 1: est(m[4] as string), 2: est(m[5] as string), 3: est(m[6] as string) } };
  });
}

const MB = 1_000_000;

describe('the learner (lb_learn) against a fake clock, /sys and conntrack', () => {
  it('takes the counters\' starting point first, learns nothing from idle links', () => {
    const r = learn([
      { t: 10, rx: { wan0: 0, wan1: 0, wan2: 0 } },
      { t: 11, rx: { wan0: 1000, wan1: 1000, wan2: 1000 } }, // 1 kB/s: below 100 kbit/s
    ]);
    expect(r.map((s) => s.weights)).toEqual(['', '']);
    expect(r.some((s) => s.applied)).toBe(false);
  });

  it('with nothing open, weights are the capacities scaled to 1-20, loaded once', () => {
    const r = learn([
      { t: 10, rx: { wan0: 0, wan1: 0, wan2: 0 } },
      { t: 11, rx: { wan0: 5 * MB, wan1: 2.5 * MB, wan2: 1.25 * MB } },
      { t: 12, rx: { wan0: 10 * MB, wan1: 5 * MB, wan2: 2.5 * MB } },
    ]);
    expect(r[1]?.estimates).toEqual({ 1: String(5 * MB), 2: String(2.5 * MB), 3: String(1.25 * MB) });
    expect(r[1]).toMatchObject({ weights: '1:20 2:10 3:5', applied: true });
    // the same weights again: nothing to load
    expect(r[2]).toMatchObject({ weights: '1:20 2:10 3:5', applied: false });
  });

  it('with connections open, a link\'s weight is what it lacks of 2N c/C (x10)', () => {
    const r = learn([
      { t: 10, rx: { wan0: 0, wan1: 0, wan2: 0 } },
      { t: 11, rx: { wan0: 4 * MB, wan1: 2 * MB, wan2: 2 * MB }, open: { 1: 6, 0: 5 } },
    ]);
    // N = 6, C = 8 MB/s: wan0 should hold 2*6*4/8 = 6 and holds 6; wan1 and wan2 3 each;
    // connections of mark 0 (health probes, bypasses) are no link's load
    expect(r[1]).toMatchObject({ weights: '1:0 2:30 3:30', applied: true, conntrack: true });
  });

  it('with --mode least (the kernel counts the connections), the weights are the capacities, conntrack unread', () => {
    const r = learn([
      { t: 10, rx: { wan0: 0, wan1: 0, wan2: 0 } },
      { t: 11, rx: { wan0: 4 * MB, wan1: 2 * MB, wan2: 2 * MB }, open: { 1: 6 } },
    ], 'least');
    expect(r[1]).toMatchObject({ weights: '1:20 2:10 3:10', applied: true, conntrack: false });
  });

  it('keeps an idle link\'s estimate, and follows a busy link that slows down by 1/16 a step', () => {
    const steps: Step[] = [{ t: 10, rx: { wan0: 0, wan1: 0, wan2: 0 } }];
    let rx0 = 0;
    let rx1 = 0;
    for (let k = 1; k <= 12; k++) {
      rx0 += (k === 1 ? 4 : 1) * MB; // wan0 falls from 4 MB/s to 1 MB/s
      rx1 += k === 1 ? 2 * MB : 0; // wan1 goes idle
      steps.push({ t: 10 + k, rx: { wan0: rx0, wan1: rx1, wan2: k * 0.5 * MB } });
    }
    const r = learn(steps);
    expect(r[1]?.estimates[1]).toBe(String(4 * MB));
    // wan1 idle from step 2 on: its 2 MB/s stays
    expect(r[12]?.estimates[2]).toBe(String(2 * MB));
    // wan0: 4 MB/s less a sixteenth a step while busy, never below what it carries
    let est = 4 * MB;
    for (let k = 2; k <= 12; k++) est = Math.max(est - Math.trunc(est / 16), 1 * MB);
    expect(r[12]?.estimates[1]).toBe(String(est));
    expect(est).toBeLessThan(2 * MB);
  });

  it('skips a link whose device is gone', () => {
    const r = learn([
      { t: 10, rx: { wan0: 0, wan1: 0 } },
      { t: 11, rx: { wan0: 2 * MB, wan1: 2 * MB } },
    ]);
    expect(r[1]).toMatchObject({ weights: '1:20 2:20', applied: true });
    expect(r[1]?.estimates[3]).toBe('');
  });
});
