// A DHCP uplink on a real kernel with real ifupdown, dhclient and dnsmasq (issue 11): the
// dhclient enter hook keeps its router out of the main table, so any boot order (uplinks
// first, the default link first, all at once) ends in the same state; a new router in a
// new lease goes to the link's table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { cli } from '../helpers.js';

const LINKS = ['wan0', 'wan1', 'wan2'];

describe('a DHCP uplink (wan2) and a static one (wan1), nftables', () => {
  let lab: Lab;
  let first: string | undefined;
  const sh = (script: string) => lab.execOk(['sh', '-c', script]);
  // what a boot should end in: main's default route, linkbal's ip rules, link tables, ruleset
  const state = () => sh(`
    echo "main: $(ip route show default)"
    ip -N rule
    for t in 102 103; do echo "table $t: $(ip route show table $t 2>&1)"; done
    nft -s list table inet linkbal`).stdout;
  // a fresh boot: every link down, linkbal stopped, /run/linkbal gone (a tmpfs at boot)
  const reboot = () => {
    for (const i of LINKS) lab.exec(['ifdown', i]);
    sh('/etc/linkbal/rules stop; rm -rf /run/linkbal');
    expect(sh("ip route show default; ip route show table all | grep -e 'table 10[23] ' || true").stdout).toBe('');
  };
  const check = (out: string) => {
    expect(out).not.toMatch(/File exists|linkbal|RTNETLINK/);
    const s = state();
    expect(s).toMatch(/^main: default via 10\.1\.0\.1 dev wan0( onlink)? *$/m);
    expect(s).toMatch(/^table 103: default via 10\.1\.2\.1 dev wan2/m);
    if (first === undefined) first = s;
    else expect(s).toBe(first);
    const r = lab.connections(40);
    expect(r.errorMessages).toEqual([]);
    expect(r.counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, dhcp: ['wan2'], renew: 2 });
    const r = await cli(['--iface', 'wan1', '--gw', '10.1.1.1', '--weight', '2', '--iface', 'wan2', '--gw', 'dhcp',
      '--probe', '203.0.113.1', '--probe', '203.0.113.2', '--backend', 'nftables', '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => lab?.destroy());

  it('uplinks before the default link: wan2 takes no default route in main, and ifup wan0 works', () => {
    reboot();
    let out = '';
    for (const i of ['wan1', 'wan2']) out += lab.ifup(i).stderr;
    expect(sh('ip route show default').stdout).toBe('');
    expect(sh('cat /run/linkbal/dhcp/wan2').stdout).toBe('10.1.2.1\n');
    out += lab.ifup('wan0').stderr;
    check(out);
  });

  it('the default link first gives the same state', () => {
    reboot();
    let out = '';
    for (const i of ['wan0', 'wan1', 'wan2']) out += lab.ifup(i).stderr;
    check(out);
  });

  it('all at once, in parallel, gives the same state', () => {
    reboot();
    check(sh('ifup wan1 & ifup wan2 & ifup wan0 & wait').stderr);
  });

  it('a renewal (RENEW) with another router puts it in the link\'s table, never in main', () => {
    lab.dhcpRouter('wan2', '10.1.2.254');
    // dnsmasq's T1 is 2 s: the running dhclient renews within it, then the hook's background update
    sh('for i in $(seq 50); do ip route show table 103 | grep -q "via 10.1.2.254" && exit 0; sleep 0.2; done; exit 1');
    expect(sh('ip route show table 103').stdout).toMatch(/^default via 10\.1\.2\.254 dev wan2 *\n$/);
    expect(sh('cat /run/linkbal/up/wan2').stdout).toMatch(/^10\.1\.2\.254 /);
    expect(sh('ip route show default').stdout).toMatch(/^default via 10\.1\.0\.1 dev wan0 [^\n]*\n$/);
    const r = lab.connections(40);
    expect(r.errorMessages).toEqual([]);
    expect(r.counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  });
});
