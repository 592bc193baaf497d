// IPv6 health tracking (issue 13), both backends: each link's IPv6 side has a tracker of
// its own (wan1:6), probing the lab's IPv6 servers from the link's own IPv6 address. One
// family's upstream is cut at an ISP (its namespace drops what it would forward of that
// family) and only that family of that link leaves balancing, measured at the server, and
// only that family's connections are flushed (--flush-on-down); the probes' sources are
// checked at the ISPs; a new address on the link (a prefix change) restarts the tracker
// from it. The probes go to the lab's servers only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const ARGS = [
  '--iface', 'wan1', '--gw', '10.1.1.1', '--gw6', '2001:db8:1:1::1',
  '--iface', 'wan2', '--gw', '10.1.2.1', '--gw6', 'auto',
  '--flush-on-down',
  '--probe', '203.0.113.1', '--probe', '203.0.113.2', '--probe', '2001:db8:ff::1', '--probe', '2001:db8:ff::2',
];
const SIDES = ['default', 'default:6', 'wan1', 'wan1:6', 'wan2', 'wan2:6'];
const V4 = ['203.0.113.1'];
const V6 = ['2001:db8:ff::1'];

interface Side { state: string; health: string | null; tracker: boolean | null; loss: number | null; rtt: number | null; share: number }
interface Status { probes: string[]; probes6: string[]; links: (Side & { name: string; ipv6: Side | null })[] }

describe.each(['nftables', 'iptables'])('IPv6 health tracking (%s)', (backend) => {
  let lab: Lab;
  let spoofed: number[];
  const sh = (script: string) => lab.execOk(['sh', '-c', script]).stdout;
  const json = (): Status => JSON.parse(lab.execOk(['/etc/linkbal/rules', 'status', '--json']).stdout) as Status;
  /** side -> health, from status --json (wan1:6 for wan1's IPv6 side) */
  const health = (): Record<string, string | null> => Object.fromEntries(json().links.flatMap((l) =>
    [[l.name, l.health], ...(l.ipv6 ? [[`${l.name}:6`, l.ipv6.health]] : [])]));
  const until = (what: string, pred: () => boolean, limitMs: number): number => {
    const start = Date.now();
    for (;;) {
      if (pred()) return Date.now() - start;
      if (Date.now() - start > limitMs) throw new Error(`${what}: not within ${limitMs} ms; ${JSON.stringify(health())}`);
      spawnSync('sleep', ['0.1']);
    }
  };
  const spread = (n: number, hosts: string[]) => {
    const r = lab.connections(n, { hosts });
    expect(r.errorMessages).toEqual([]);
    return r.counts;
  };
  /** ISP I drops everything of FAMILY (ip, ip6) it would forward; its own address still answers */
  const cut = (i: number, family: 'ip' | 'ip6') => lab.netexec(`isp${i}`, ['nft',
    `add table ${family} outage; add chain ${family} outage cut { type filter hook forward priority 0; policy drop; }`]);
  const heal = (i: number, family: 'ip' | 'ip6') => lab.netexec(`isp${i}`, ['nft', `delete table ${family} outage`]);
  const events = () => sh('cat /run/linkbal-events 2>/dev/null; true').trim().split('\n').filter(Boolean);
  const trackers = () => lab.programs('/etc/linkbal/tracker');
  /** a UDP exchange with the server from each of wan1's addresses; then wan1's UDP connections per family */
  const wan1Udp = () => sh(`${process.execPath} -e "const d = require('dgram');
    for (const [f, src, dst] of [['udp4', '10.1.1.2', '203.0.113.1'], ['udp6', '2001:db8:1:1::2', '2001:db8:ff::1']]) {
      const s = d.createSocket(f); s.bind(0, src, () => s.send('x', 53, dst)); setTimeout(() => s.close(), 300); }"`);
  const wan1Conns = (family: string) => Number(sh(`conntrack -L -f ${family} -p udp -m 0x2000000/0x3f000000 2>/dev/null | wc -l`));
  /** the source addresses the running IPv6 probes of wan1 are bound to (ping -I), in this lab */
  const wan1Sources = () => [...new Set(sh('n=$(stat -L -c %i /proc/self/ns/net); ps -eo netns=,args= | '
    + 'awk -v n="$n" \'$1 == n && $2 == "ping" && / -I 2001:db8:1:1::/\'')
    .split('\n').filter(Boolean).map((l) => /-I (\S+)/.exec(l)?.[1]))].sort();

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, ra: ['wan2'] });
    lab.ifup('wan0');
    const r = await cli([...EXACT, ...ARGS, '--backend', backend, '--root', lab.root]);
    expect(r.stderr).toBe('');
    // the admin's notification script: every transition, in order
    sh('mkdir -p /etc/linkbal/event.d && printf \'%s\\n\' \'#!/bin/sh\' '
      + '\'echo "$LINK $FAMILY $STATE $TIER" >>/run/linkbal-events\' >/etc/linkbal/event.d/log && chmod 755 /etc/linkbal/event.d/log');
    for (const i of ['wan1', 'wan2']) lab.ifup(i);
    // every side tracked, ok, with its first statistics (a tick, 2 s)
    until('every side tracked and ok', () => trackers().join() === SIDES.join() && json().links.every((l) =>
      [l, l.ipv6].every((s) => s?.health === 'ok' && s.loss !== null)), 10_000);
    // the ISPs' counts of IPv6 packets from another ISP's prefix from here on
    spoofed = [0, 1, 2].map((i) => lab.spoofed6(i));
    // no false alarm while the links' IPv6 came up (duplicate address detection, neighbour discovery)
    expect(events()).toEqual([]);
  }, 60_000);
  afterAll(() => lab?.destroy());

  it('takes a dead IPv6 upstream out of IPv6 balancing only, and a dead IPv4 one out of IPv4 only', () => {
    expect(spread(30, V6)).toEqual({ wan0: 10, wan1: 10, wan2: 10 });
    wan1Udp();
    expect([wan1Conns('ipv4'), wan1Conns('ipv6')]).toEqual([1, 1]);
    // at once: wan1's ISP forwards no IPv6, wan2's no IPv4
    cut(1, 'ip6');
    cut(2, 'ip');
    const out = until('wan1:6 and wan2 dead', () => health()['wan1:6'] === 'dead' && health().wan2 === 'dead', 3000);
    expect(health()).toEqual({ default: 'ok', 'default:6': 'ok', wan1: 'ok', 'wan1:6': 'dead', wan2: 'dead', 'wan2:6': 'ok' });
    // --flush-on-down dropped wan1's IPv6 connections, not its IPv4 ones
    expect([wan1Conns('ipv4'), wan1Conns('ipv6')]).toEqual([1, 0]);
    expect(spread(20, V6)).toEqual({ wan0: 10, wan2: 10 });
    expect(spread(20, V4)).toEqual({ wan0: 10, wan1: 10 });
    // status, both ways
    const s = json();
    expect(s.probes6).toEqual(['2001:db8:ff::1', '2001:db8:ff::2']);
    expect(s.links[1]).toMatchObject({ name: 'wan1', health: 'ok', share: 50, ipv6: { state: 'up', health: 'dead', tracker: true, share: 0 } });
    expect(s.links[2]).toMatchObject({ name: 'wan2', health: 'dead', share: 0, ipv6: { health: 'ok', share: 50 } });
    const text = lab.execOk(['/etc/linkbal/rules', 'status']).stdout.replace(/[ \t]+/g, ' ');
    expect(text).toMatch(/\nwan1 up 10\.1\.1\.1 1 50% \d+ \d+ [^\n]*\nwan2 up 10\.1\.2\.1 1 - \d+ \d+ /);
    expect(text).toMatch(/\nIPv6\nlink state gateway weight share conns bytes\ndefault up main-table 1 50% \d+ \d+ [^\n]*\nwan1 up 2001:db8:1:1::1 1 - /);
    expect(text).toMatch(/\nIPv6\n[^]*\nhealth \(probes: 2001:db8:ff::1 2001:db8:ff::2\)\nlink health tier since loss rtt reason\ndefault ok 1 [^\n]*\nwan1 dead 1 \d+s \d+% [^\n]* no answer from/);
    heal(1, 'ip6');
    heal(2, 'ip');
    const back = until('back', () => Object.values(health()).every((h) => h === 'ok'), 10_000);
    expect(spread(30, V6)).toEqual({ wan0: 10, wan1: 10, wan2: 10 });
    expect(spread(30, V4)).toEqual({ wan0: 10, wan1: 10, wan2: 10 });
    expect(events().sort()).toEqual(['wan1 inet6 dead 1', 'wan1 inet6 ok 1', 'wan2 inet dead 1', 'wan2 inet ok 1']);
    console.log(`IPv6/IPv4 sides out after ${out} ms, back after ${back} ms`);
  });

  it('probes from each link\'s own IPv6 address', () => {
    // a counter at wan1's ISP for its probes from its address
    lab.netexec('isp1', ['nft', 'add table ip6 probes; add chain ip6 probes seen { type filter hook forward priority -20; };'
      + ' add rule ip6 probes seen ip6 saddr 2001:db8:1:1::2 icmpv6 type echo-request counter']);
    spawnSync('sleep', ['1.5']);
    const seen = lab.netexec('isp1', ['nft', 'list', 'table', 'ip6', 'probes']).stdout;
    expect(Number(/packets (\d+)/.exec(seen)?.[1])).toBeGreaterThanOrEqual(4);
    expect(wan1Sources()).toEqual(['2001:db8:1:1::2']);
    // and no ISP saw an IPv6 packet from another ISP's prefix, the probes' included
    expect([0, 1, 2].map((i) => lab.spoofed6(i))).toEqual(spoofed);
  });

  it('restarts the tracker from the link\'s new address when its address changes, calling nothing dead', () => {
    sh(': >/run/linkbal-events');
    // at each ISP: echo requests (probes) from outside its prefix; at wan1's, from the new address
    for (const i of [0, 1, 2]) {
      lab.netexec(`isp${i}`, ['nft', `add table ip6 moved; add chain ip6 moved seen { type filter hook forward priority -30; };`
        + ` add counter ip6 moved stray; add counter ip6 moved new;`
        + ` add rule ip6 moved seen iifname "tohost" icmpv6 type echo-request ip6 saddr != 2001:db8:1:${i}::/64 counter name stray;`
        + ` add rule ip6 moved seen icmpv6 type echo-request ip6 saddr 2001:db8:1:1::3 counter name new`]);
    }
    const count = (i: number, name: string) => Number(/packets (\d+)/.exec(
      lab.netexec(`isp${i}`, ['nft', 'list', 'counter', 'ip6', 'moved', name]).stdout)?.[1]);
    // the ISP routes the old address no more, the link gets its new address, the old one goes
    // (the new first: the prefix route stays)
    lab.netexec('isp1', ['ip', '-6', 'route', 'add', 'blackhole', '2001:db8:1:1::2/128']);
    sh('ip -6 addr add 2001:db8:1:1::3/64 dev wan1 nodad && ip -6 addr del 2001:db8:1:1::2/64 dev wan1');
    const moved = until('wan1:6 probes from ::3', () => wan1Sources().join() === '2001:db8:1:1::3', 10_000);
    expect(trackers()).toEqual(SIDES);
    spawnSync('sleep', ['1']);
    expect(health()['wan1:6']).toBe('ok');
    expect(events()).toEqual([]);
    expect(count(1, 'new')).toBeGreaterThanOrEqual(2);
    expect([0, 1, 2].map((i) => count(i, 'stray'))).toEqual([0, 0, 0]);
    console.log(`tracker moved to the new address after ${moved} ms; IPv6 packets from another ISP's prefix meanwhile`
      + ` (the kernel's ICMPv6 errors for answers to the old address): ${[0, 1, 2].map((i) => lab.spoofed6(i) - (spoofed[i] as number))}`);
  });
});
