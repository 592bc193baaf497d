// Dual stack (issue 13), the rest of real life: IPv6 forwarded from a LAN, the random and
// hash modes, the default link's IPv6 gone (its route too), and an uplink whose advertised
// router is not in main at a restart, or changes. Measured at the server (the source
// address it saw) and at the ISPs (IPv6 packets dropped for another ISP's source). One lab;
// each test leaves every link up.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { EXACT, cli, expectChiSquareFit, linksByHost } from '../helpers.js';

const ARGS = [
  '--iface', 'wan1', '--gw', '10.1.1.1', '--gw6', '2001:db8:1:1::1', '--weight', '2',
  '--iface', 'wan2', '--gw', '10.1.2.1', '--gw6', 'auto',
  '--lan', 'lan0', '--probe', 'none',
];
const SERVER6 = '2001:db8:ff::1';
/** more IPv6 servers, for the hash mode */
const EXTRA6 = Array.from({ length: 9 }, (_, k) => `2001:db8:ff::${k + 10}`);

describe.each(['nftables', 'iptables'])('dual stack with the %s backend: LAN, modes, the default link gone, a new router', (backend) => {
  let lab: Lab;
  const rules = (...args: string[]) => lab.execOk(['/etc/linkbal/rules', ...args]).stdout;
  const render = async (...extra: string[]) => {
    const r = await cli([...EXACT, ...ARGS, '--backend', backend, ...extra, '--root', lab.root]);
    expect(r.stderr).toBe('');
  };
  const spread = (n: number, opts: { hosts?: string[]; fromLan?: boolean } = {}) => {
    const r = lab.connections(n, { hosts: [SERVER6], ...opts });
    expect(r.errorMessages).toEqual([]);
    return r;
  };
  const spoofed = () => [0, 1, 2].map((i) => lab.spoofed6(i));
  const hook = (mode: 'start' | 'stop', iface: string) => {
    const dir = mode === 'start' ? 'if-up.d' : 'if-down.d';
    lab.execOk(['env', '-i', `IFACE=${iface}`, `LOGICAL=${iface}`, 'ADDRFAM=inet6', 'METHOD=static',
      `MODE=${mode}`, `PHASE=${mode === 'start' ? 'post-up' : 'pre-down'}`, 'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      `/etc/network/${dir}/linkbal`]);
  };
  const wan2Router = () => lab.execOk(['ip', '-6', 'route', 'show', 'default', 'table', 'linkbal-wan2']).stdout;

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, lan: true, ra: ['wan2'] });
    for (const a of EXTRA6) expect(lab.netexec('net', ['ip', 'addr', 'add', `${a}/128`, 'dev', 'lo']).status).toBe(0);
    // the admin's own NAT for the default link (linkbal masquerades on the listed links only)
    lab.execOk(['nft', 'add table ip6 admin; add chain ip6 admin post { type nat hook postrouting priority srcnat; };'
      + ' add rule ip6 admin post oifname "wan0" ip6 saddr 2001:db8:3::/64 masquerade']);
    lab.ifup('wan0');
    await render();
    for (const i of ['wan1', 'wan2']) lab.ifup(i);
  });
  afterAll(() => lab?.destroy());

  it('balances IPv6 forwarded from the LAN by weight, each with its uplink\'s address', () => {
    // a LAN source would count as itself: every one the server saw is an uplink's
    expect(spread(200, { fromLan: true }).counts).toEqual({ wan0: 50, wan1: 100, wan2: 50 });
    expect(spoofed()).toEqual([0, 0, 0]);
  });

  it('while the default link\'s IPv6 is gone, spreads over the others by weight', () => {
    // what ifdown does to an inet6 stanza: the hook, then the address and route go
    const route = lab.execOk(['ip', '-6', 'route', 'show', 'default', 'table', 'main', 'dev', 'wan0']).stdout.trim();
    expect(route).toMatch(/^default via 2001:db8:1::1 /);
    hook('stop', 'wan0');
    lab.execOk(['ip', '-6', 'route', 'del', 'default', 'dev', 'wan0']);
    try {
      // the router's own connections leave by the fallback link (wan1) with its address:
      // they are not "bound to wan1's address", they take turns
      expect(spread(90).counts).toEqual({ wan1: 60, wan2: 30 });
      expect(spread(90, { fromLan: true }).counts).toEqual({ wan1: 60, wan2: 30 });
      // its network's route stays until ifdown's end: no longer one that keeps its route
      // (nft prints adjacent networks as one range: a/len or a-b)
      const choose6 = lab.execOk(backend === 'nftables' ? ['nft', 'list', 'chain', 'inet', 'linkbal', 'choose6']
        : ['ip6tables', '-t', 'mangle', '-S', 'linkbal-choose']).stdout;
      expect(choose6).not.toMatch(/2001:db8:1::[-/]/);
      expect(choose6).toMatch(/2001:db8:1:1::[-/]/);
    } finally {
      lab.execOk(['ip', '-6', 'route', 'replace', 'default', 'via', '2001:db8:1::1', 'dev', 'wan0']);
      hook('start', 'wan0');
    }
    expect(spread(40).counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    expect(spoofed()).toEqual([0, 0, 0]);
  });

  it('restarts with an auto link between two advertisements (its router from the neighbours)', () => {
    // up6 takes a router-advertised route at the kernel's metric out of main; the next
    // advertisement, which may be minutes away, puts it back at 4000000000
    const router = wan2Router();
    expect(router).toMatch(/^default via fe80::/);
    // no advertisement comes meanwhile: ISP 2's dnsmasq paused
    const ra = fs.readFileSync(path.join(path.dirname(lab.root), 'dnsmasq-ra2.pid'), 'utf8').trim();
    process.kill(Number(ra), 'SIGSTOP');
    try {
      lab.exec(['ip', '-6', 'route', 'del', 'default', 'dev', 'wan2', 'proto', 'ra']);
      expect(lab.execOk(['ip', '-6', 'route', 'show', 'default', 'dev', 'wan2']).stdout).toBe('');
      rules('restart');
      expect(wan2Router()).toBe(router);
    } finally {
      process.kill(Number(ra), 'SIGCONT');
    }
    expect(spread(40).counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  });

  it('follows a new advertised router on an auto link', () => {
    const old = /via (fe80::[0-9a-f:]+) dev wan2/.exec(wan2Router())?.[1];
    expect(old).toBeDefined();
    lab.raRouter('wan2', 'fe80::beef');
    // the guard takes the new router in within a second or two of its first advertisement
    let now = '';
    for (let t = 0; t < 50 && !now.includes('fe80::beef'); t++) {
      lab.execOk(['sleep', '0.2']);
      now = wan2Router();
    }
    expect(now).toMatch(/^default via fe80::beef dev wan2/);
    lab.settled(); // the guard's up6 set the route, then loads the ruleset
    expect(spread(40).counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    expect(spoofed()).toEqual([0, 0, 0]);
  });

  it('hash mode: an IPv6 destination keeps its link, destinations spread over links', async () => {
    await render('--mode', 'hash');
    rules('restart');
    const hosts = [SERVER6, ...EXTRA6];
    const r = spread(hosts.length * 4, { hosts });
    for (const [h, links] of linksByHost(r.order, hosts)) expect(links.size, h).toBe(1);
    expect(new Set(r.order)).toEqual(new Set(['wan0', 'wan1', 'wan2']));
  });

  it('random mode: IPv6 shares follow the weights (chi-square, p > 0.001)', async () => {
    await render('--mode', 'random');
    rules('restart');
    expectChiSquareFit(spread(400).counts, { wan0: 100, wan1: 200, wan2: 100 });
    expect(spoofed()).toEqual([0, 0, 0]);
  });
});
