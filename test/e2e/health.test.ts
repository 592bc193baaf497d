// Health tracking on a real kernel: each ISP's upstream is cut (its namespace drops what it
// would forward, its own address still answers), lossy, flapping, or its cable pulled, and
// the trackers must take the link out, hold it out while it flaps, and bring it back. The
// probes go to the lab's own servers only (--probe 203.0.113.1 --probe 203.0.113.2).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const PROBES = ['--probe', '203.0.113.1', '--probe', '203.0.113.2'];
const LINKS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', '10.1.2.1'];
const NAMES: Record<string, string> = { default: 'isp0', wan1: 'isp1', wan2: 'isp2' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The lab with a few ways to break an ISP, and what linkbal says of each link. */
function healthLab(backend: 'nftables' | 'iptables') {
  let lab: Lab;
  const t = {
    get lab() { return lab; },
    render: async (...more: string[]) => {
      const r = await cli([...EXACT, ...LINKS, ...PROBES, '--backend', backend, ...more, '--root', lab.root]);
      expect(r.code, r.stderr).toBe(0);
    },
    /** ISP of NAME drops everything it would forward (policy drop), or with loss=P, P% */
    cut: (name: string, loss?: number) => lab.netexec(NAMES[name] as string, ['nft', 'add table ip outage; add chain ip outage cut'
      + ` { type filter hook forward priority 0; ${loss === undefined ? 'policy drop;' : ''} };`
      + (loss === undefined ? '' : ` add rule ip outage cut numgen random mod 100 < ${loss} drop;`)]),
    heal: (name: string) => lab.netexec(NAMES[name] as string, ['nft', 'delete table ip outage']),
    /** name -> health (ok, dead, nocarrier), from `rules status` */
    health: (): Record<string, string> => {
      const s = lab.execOk(['/etc/linkbal/rules', 'status']).stdout;
      const rows = s.slice(s.indexOf('\nhealth (')).split('\n').slice(3).filter(Boolean);
      return Object.fromEntries(rows.map((r) => r.split(/\s+/).slice(0, 2)));
    },
    /** ms until pred() holds (polling every 100 ms), or throws after limitMs */
    until: (what: string, pred: () => boolean, limitMs: number): number => {
      const start = Date.now();
      for (;;) {
        if (pred()) return Date.now() - start;
        if (Date.now() - start > limitMs) throw new Error(`${what}: not within ${limitMs} ms; health ${JSON.stringify(t.health())}`);
        spawnSync('sleep', ['0.1']);
      }
    },
    spread: (n: number) => {
      const r = lab.connections(n);
      expect(r.errorMessages).toEqual([]);
      return r.counts;
    },
    /** the trackers running in this lab, by link */
    trackers: (): string[] => lab.programs('/etc/linkbal/tracker'),
  };
  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3 });
    lab.ifup('wan0');
    await t.render();
    for (const i of ['wan1', 'wan2']) lab.ifup(i);
    t.until('every link tracked and ok', () => JSON.stringify(t.health()) === '{"default":"ok","wan1":"ok","wan2":"ok"}'
      && t.trackers().length === 3, 5000);
  });
  // every ISP healed, the base settings, every link up and healthy: one failure stays one
  afterEach(async () => {
    for (const n of Object.keys(NAMES)) t.heal(n);
    for (const i of [0, 1, 2]) lab.netexec(`isp${i}`, ['ip', 'link', 'set', 'tohost', 'up']);
    await t.render();
    for (const i of ['wan0', 'wan1', 'wan2']) lab.ifup(i);
    lab.execOk(['/etc/linkbal/rules', 'restart']);
    t.until('every link ok again', () => Object.values(t.health()).every((h) => h === 'ok'), 15_000);
  });
  afterAll(() => lab?.destroy());
  return t;
}

describe.each(['iptables', 'nftables'] as const)('health tracking with the %s backend', (backend) => {
  const t = healthLab(backend);

  it('takes a link whose upstream died out within 3 s, and back within 10 s of the repair', () => {
    expect(t.spread(30)).toEqual({ wan0: 10, wan1: 10, wan2: 10 });
    t.cut('wan1');
    const out = t.until('wan1 dead', () => t.health().wan1 === 'dead', 3000);
    // the other links' probes leave by their own links: they stay ok
    expect(t.health()).toEqual({ default: 'ok', wan1: 'dead', wan2: 'ok' });
    expect(t.spread(30)).toEqual({ wan0: 15, wan2: 15 });
    t.heal('wan1');
    const back = t.until('wan1 ok', () => t.health().wan1 === 'ok', 10_000);
    expect(t.spread(30)).toEqual({ wan0: 10, wan1: 10, wan2: 10 });
    console.log(`${backend}: out after ${out} ms, back after ${back} ms`);
  });

  it('restarts a tracker that was killed, and leaves none after rules stop', () => {
    expect(t.trackers()).toEqual(['default', 'wan1', 'wan2']);
    t.lab.execOk(['sh', '-c', 'pkill -KILL -f "^/bin/sh /etc/linkbal/tracker wan2$"; true']);
    // the other trackers look every 5 s (on their 2 s tick) and have the rules start it
    t.until('wan2 tracked again', () => t.trackers().includes('wan2'), 10_000);
    expect(t.trackers()).toEqual(['default', 'wan1', 'wan2']);
    t.lab.execOk(['/etc/linkbal/rules', 'stop']);
    t.until('no tracker', () => t.trackers().length === 0, 2000);
  });
});

describe('health tracking: no false alarm, carrier, flapping, tiers (nftables)', () => {
  const t = healthLab('nftables');
  const events = () => t.lab.execOk(['sh', '-c', 'cat /run/linkbal-events 2>/dev/null; true']).stdout.trim().split('\n').filter(Boolean);

  beforeAll(() => {
    // the admin's own notification script: every transition, in order
    t.lab.execOk(['sh', '-c', 'mkdir -p /etc/linkbal/event.d && printf \'%s\\n\' \'#!/bin/sh\' '
      + '\'echo "$LINK $STATE $TIER $REASON" >>/run/linkbal-events\' >/etc/linkbal/event.d/log && chmod 755 /etc/linkbal/event.d/log']);
  });

  // three ways a healthy link looks ill, one per link, in the same 20 s: none may take it out
  it('makes no transition with one of two probe targets dead, with 5% loss, or under 750 ms latency spikes', () => {
    t.lab.execOk(['sh', '-c', ': >/run/linkbal-events']);
    // the default link (source 10.1.0.2): its probes to 203.0.113.2 are dropped at the far end
    t.lab.netexec('net', ['nft', 'add table ip deadtarget; add chain ip deadtarget in { type filter hook input priority 0; };'
      + ' add rule ip deadtarget in ip saddr 10.1.0.2 ip daddr 203.0.113.2 icmp type echo-request drop']);
    // wan1: its ISP loses 5% of what it forwards
    t.cut('wan1', 5);
    // wan2: every second for 20 s, 190 kB at once from the far side to wan2's address: the
    // queue to wan2 holds 0.75 s, and drains (bufferbloat, as on LTE under load)
    t.lab.netexec('isp2', ['tc', 'qdisc', 'replace', 'dev', 'tohost', 'root', 'tbf', 'rate', '2mbit', 'burst', '16kb', 'latency', '900ms']);
    try {
      const r = t.lab.netexec('net', [process.execPath, '-e', `const s = require('dgram').createSocket('udp4');
        const b = Buffer.alloc(1250); let n = 0;
        const t = setInterval(() => { for (let i = 0; i < 150; i++) s.send(b, 9, '10.1.2.2');
          if (++n === 20) { clearInterval(t); setTimeout(() => s.close(), 500); } }, 1000);`]);
      expect(r.status, r.stderr).toBe(0);
      // the probes did see the spikes: round trips of 300 ms and more among the last 30
      const rtts = t.lab.execOk(['cat', '/run/linkbal/track/wan2.stats']).stdout.trim().split(' ').slice(2).map(Number);
      expect(Math.max(...rtts), rtts.join(' ')).toBeGreaterThanOrEqual(300);
      // and the loss: wan1's probes lost some (80 in 20 s, each crossing its ISP twice)
      expect(t.lab.execOk(['cat', '/run/linkbal/track/wan1.stats']).stdout.split(' ')[1]).not.toBe('0');
      expect(events()).toEqual([]);
      expect(t.health()).toEqual({ default: 'ok', wan1: 'ok', wan2: 'ok' });
    } finally {
      t.lab.netexec('isp2', ['tc', 'qdisc', 'del', 'dev', 'tohost', 'root']);
      t.lab.netexec('net', ['nft', 'delete table ip deadtarget']);
    }
  }, 60_000);

  it('takes a link out at once when its carrier goes, and runs event.d for each change', () => {
    t.lab.execOk(['sh', '-c', ': >/run/linkbal-events']);
    t.lab.netexec('isp2', ['ip', 'link', 'set', 'tohost', 'down']);
    t.until('wan2 nocarrier', () => t.health().wan2 === 'nocarrier', 1500);
    expect(t.spread(20)).toEqual({ wan0: 10, wan1: 10 });
    t.lab.netexec('isp2', ['ip', 'link', 'set', 'tohost', 'up']);
    t.until('wan2 ok', () => t.health().wan2 === 'ok', 10_000);
    expect(events()).toEqual(['wan2 nocarrier 1 no carrier on wan2', 'wan2 ok 1 probes answered for 3 s']);
  });

  it('holds a flapping link out (2 s dead, 2 s alive, for 16 s), then lets it back', async () => {
    t.lab.execOk(['sh', '-c', ': >/run/linkbal-events']);
    for (let k = 0; k < 4; k++) {
      t.cut('wan1');
      await sleep(2000);
      t.heal('wan1');
      await sleep(2000);
      if (k > 0) expect(t.health().wan1, `round ${k}`).toBe('dead');
    }
    expect(events()).toEqual([expect.stringMatching(/^wan1 dead 1 no answer from/)]);
    t.until('wan1 ok', () => t.health().wan1 === 'ok', 10_000);
    expect(events()).toHaveLength(2);
  }, 90_000);

  it('tiers: a backup carries nothing while a primary is healthy, everything when none is', async () => {
    await t.render('--tier', '2'); // wan2, the last --iface, is the backup
    t.lab.execOk(['/etc/linkbal/rules', 'restart']);
    t.until('tracked', () => Object.keys(t.health()).length === 3, 5000);
    expect(t.spread(20)).toEqual({ wan0: 10, wan1: 10 });
    t.cut('default');
    t.cut('wan1');
    t.until('every primary dead', () => t.health().default === 'dead' && t.health().wan1 === 'dead', 3000);
    expect(t.spread(20)).toEqual({ wan2: 20 });
    t.heal('wan1');
    t.until('wan1 ok', () => t.health().wan1 === 'ok', 10_000);
    expect(t.spread(20)).toEqual({ wan1: 20 });
  });

  it('with every link dead, spreads over every link that has carrier: no blackout', () => {
    for (const n of Object.keys(NAMES)) t.cut(n);
    t.until('every link dead', () => Object.values(t.health()).every((h) => h === 'dead'), 3000);
    const s = t.lab.execOk(['/etc/linkbal/rules', 'status']).stdout;
    for (const l of ['default', 'wan1', 'wan2']) expect(s).toMatch(new RegExp(`^${l}\\s+up\\s+\\S+\\s+1\\s+33%`, 'm'));
    // the first link to come back takes everything new
    t.heal('wan2');
    t.until('wan2 ok', () => t.health().wan2 === 'ok', 10_000);
    expect(t.spread(20)).toEqual({ wan2: 20 });
  });
});
