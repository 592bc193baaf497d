// Dual stack (issue 13), nftables backend: the lab with IPv6 (uplink I 2001:db8:1:I::2/64,
// wan2's IPv6 from router advertisements), measured at the server (the source address it
// saw) and at the ISPs (IPv6 packets dropped for another ISP's source). One lab for every
// assertion: each test leaves every link up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { cli } from '../helpers.js';

const ARGS = [
  '--iface', 'wan1', '--gw', '10.1.1.1', '--gw6', '2001:db8:1:1::1', '--weight', '2',
  '--iface', 'wan2', '--gw', '10.1.2.1', '--gw6', 'auto',
  '--backend', 'nftables', '--probe', 'none',
];
const SERVER6 = '2001:db8:ff::1';

describe('dual stack with the nftables backend', () => {
  let lab: Lab;
  const rules = (...args: string[]) => lab.execOk(['/etc/linkbal/rules', ...args]).stdout;
  const spread = (n: number, hosts: string[]) => {
    const r = lab.connections(n, { hosts });
    expect(r.errorMessages).toEqual([]);
    return r.counts;
  };
  const spoofed = () => [0, 1, 2].map((i) => lab.spoofed6(i));
  /** What ifupdown runs for one stanza of IFACE (ifupdown 0.8 takes an interface's
   *  stanzas up and down together; ifupdown2, or a lost router, moves one family). */
  const hook = (mode: 'start' | 'stop', iface: string, addrfam: string) => {
    const dir = mode === 'start' ? 'if-up.d' : 'if-down.d';
    lab.execOk(['env', '-i', `IFACE=${iface}`, `LOGICAL=${iface}`, `ADDRFAM=${addrfam}`, 'METHOD=static',
      `MODE=${mode}`, `PHASE=${mode === 'start' ? 'post-up' : 'pre-down'}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      `/etc/network/${dir}/linkbal`]);
  };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, ra: ['wan2'] });
    lab.ifup('wan0');
    const r = await cli([...ARGS, '--root', lab.root]);
    expect(r.stderr).toBe('');
    for (const i of ['wan1', 'wan2']) {
      const up = lab.ifup(i);
      expect(up.stderr, `ifup ${i} printed`).not.toMatch(/linkbal/);
    }
  });
  afterAll(() => lab?.destroy());

  it('the lab: wan2 takes its address and router from router advertisements', () => {
    expect(lab.execOk(['ip', '-6', '-o', 'addr', 'show', 'dev', 'wan2', 'scope', 'global']).stdout)
      .toMatch(/inet6 2001:db8:1:2:[0-9a-f:]+\/64/);
    // its router is link-local, in the link's table; main keeps the default link's route first
    expect(lab.execOk(['ip', '-6', 'route', 'show', 'default', 'table', 'linkbal-wan2']).stdout)
      .toMatch(/^default via fe80::[0-9a-f:]+ dev wan2/);
    expect(lab.execOk(['ip', '-6', 'route', 'show', 'default', 'table', 'main']).stdout.split('\n')[0])
      .toMatch(/via 2001:db8:1:0::1 dev wan0|via 2001:db8:1::1 dev wan0/);
  });

  it('rules status shows the IPv6 sides: gateway and share', () => {
    const out = rules('status').replace(/[ \t]+/g, ' ');
    expect(out).toMatch(/\nIPv6\nlink state gateway weight share\ndefault up main-table 1 25%\n/);
    expect(out).toContain('\nwan1 up 2001:db8:1:1::1 2 50%\n');
    expect(out).toMatch(/\nwan2 up fe80::[0-9a-f:]+ 1 25%\n/);
  });

  it('spreads new IPv6 connections exactly by weight in nth mode (1:2:1), and IPv4 as before', () => {
    expect(spread(200, [SERVER6])).toEqual({ wan0: 50, wan1: 100, wan2: 50 });
    expect(spread(200, ['203.0.113.1'])).toEqual({ wan0: 50, wan1: 100, wan2: 50 });
    // no IPv6 packet left an uplink with another ISP's source
    expect(spoofed()).toEqual([0, 0, 0]);
  });

  it('answers inbound IPv6 by the link it came in on', () => {
    const before = spoofed();
    const wan2 = /inet6 (2001:db8:1:2:[0-9a-f:]+)\//.exec(
      lab.execOk(['ip', '-6', '-o', 'addr', 'show', 'dev', 'wan2', 'scope', 'global']).stdout)?.[1];
    expect(wan2).toBeDefined();
    // by the main table, the answers would leave by wan0 and ISP 0 would drop them
    for (const addr of ['2001:db8:1:1::2', wan2 as string]) {
      const r = lab.netexec('net', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '1', addr]);
      expect(r.status, `${addr}: ${r.stdout}`).toBe(0);
    }
    expect(spoofed()).toEqual(before);
  });

  it('takes a link\'s IPv6 side out and back on its inet6 stanza, IPv4 staying', () => {
    hook('stop', 'wan1', 'inet6');
    expect(spread(100, [SERVER6])).toEqual({ wan0: 50, wan2: 50 });
    expect(spread(100, ['203.0.113.1'])).toEqual({ wan0: 25, wan1: 50, wan2: 25 });
    hook('start', 'wan1', 'inet6');
    expect(spread(100, [SERVER6])).toEqual({ wan0: 25, wan1: 50, wan2: 25 });
    // and the reverse: IPv4 out, IPv6 staying
    hook('stop', 'wan1', 'inet');
    expect(spread(100, ['203.0.113.1'])).toEqual({ wan0: 50, wan2: 50 });
    expect(spread(100, [SERVER6])).toEqual({ wan0: 25, wan1: 50, wan2: 25 });
    hook('start', 'wan1', 'inet');
    expect(spread(100, ['203.0.113.1'])).toEqual({ wan0: 25, wan1: 50, wan2: 25 });
  });

  it('fails over and recovers on ifdown and ifup', () => {
    lab.ifdown('wan2');
    expect(spread(90, [SERVER6])).toEqual({ wan0: 30, wan1: 60 });
    lab.ifup('wan2');
    expect(spread(100, [SERVER6])).toEqual({ wan0: 25, wan1: 50, wan2: 25 });
    expect(spoofed()).toEqual([0, 0, 0]);
  });

  it('the ISPs drop another ISP\'s IPv6 source (the check above is live)', () => {
    // a socket's own mark keeps linkbal out of it: the default link's mark, wan1's address
    const unit = String(0x1000000);
    lab.exec(['ping', '-6', '-c', '1', '-W', '1', '-m', unit, '-I', '2001:db8:1:1::2', SERVER6]);
    expect(lab.spoofed6(0)).toBeGreaterThan(0);
  });

  it('stop takes every IPv6 rule and route away', () => {
    rules('stop');
    expect(lab.execOk(['ip', '-6', 'rule']).stdout).not.toMatch(/lookup (10[0-9]|linkbal)|fwmark/);
    expect(lab.execOk(['ip', '-6', 'route', 'show', 'table', 'all']).stdout).not.toMatch(/table linkbal|table 10[0-9]/);
    rules('start');
    expect(spread(40, [SERVER6])).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  });
});
