// DHCP on a real kernel with real ifupdown, dhclient (with Debian's option 121 exit hook) and
// dnsmasq (issue 11): the dhclient enter hook keeps a listed uplink's router out of the main
// table, so any boot order (uplinks first, the default link first, all at once) ends in the
// same state, with a static default link and with a DHCP one; a lease that brings another
// router (RENEW, REBIND, BOUND, option 121) or another address updates the link's table.
// One lab for both cases, which differ in two ways (pairwise): the default link static with
// nftables, the default link DHCP with iptables.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const LINKS = ['wan0', 'wan1', 'wan2'];
const CASES = [
  { backend: 'nftables', wan0: 'static' },
  { backend: 'iptables', wan0: 'dhcp' },
] as const;

let lab: Lab;
const sh = (script: string) => lab.execOk(['sh', '-c', script]);
/** an address of the lab's dnsmasq pool from 10.1.K.FIRST (11 addresses), as a regex source */
const pool = (k: number, first: number) => `10\\.1\\.${k}\\.(${Array.from({ length: 11 }, (_, i) => first + i).join('|')})`;
beforeAll(() => {
  lab = Lab.create({ uplinks: 3, dhcp: ['wan0', 'wan2'], renew: 2 });
  // every lease event of wan2, as dhclient-script hands it to the enter hooks (before linkbal's)
  fs.writeFileSync(path.join(lab.root, 'etc/dhcp/dhclient-enter-hooks.d/00reasons'),
    '[ "$interface" != wan2 ] || echo "$reason ${old_ip_address:-} ${new_ip_address:-} ${new_routers:-}" >>/run/reasons\n');
});
afterAll(() => lab?.destroy());

describe.each(CASES)('DHCP on wan2, the default link wan0 $wan0, $backend', ({ backend, wan0 }) => {
  let first: string | undefined;
  // what a boot should end in: main's default route, linkbal's ip rules, link tables, ruleset
  const state = () => sh(`
    echo "main: $(ip route show default)"
    ip -N rule
    for t in 102 103; do echo "table $t: $(ip route show table $t 2>&1)"; done
    ${backend === 'nftables' ? 'nft -s list table inet linkbal' : "iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'"}`).stdout;
  // a fresh boot: every link down, linkbal stopped, /run/linkbal gone (a tmpfs at boot)
  const reboot = () => {
    for (const i of LINKS) lab.exec(['ifdown', i]);
    sh('/etc/linkbal/rules stop; rm -rf /run/linkbal');
    expect(sh("ip route show default; ip route show table all | grep -e 'table 10[23] ' || true").stdout).toBe('');
  };
  const shares = () => {
    const r = lab.connections(40);
    expect(r.errorMessages).toEqual([]);
    expect(r.counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  };
  const check = (out: string) => {
    expect(out).not.toMatch(/File exists|linkbal|RTNETLINK/);
    const s = state();
    expect(s).toMatch(/^main: default via 10\.1\.0\.1 dev wan0( onlink)? *$/m);
    expect(s).toMatch(/^table 103: default via 10\.1\.2\.1 dev wan2/m);
    if (first === undefined) first = s;
    else expect(s).toBe(first);
    shares();
  };

  beforeAll(async () => {
    // the previous case's backend stopped first, as an admin would
    for (const i of LINKS) lab.exec(['ifdown', i]);
    sh('[ ! -x /etc/linkbal/rules ] || /etc/linkbal/rules stop');
    const file = path.join(lab.root, 'etc/network/interfaces');
    const stanza = wan0 === 'dhcp' ? 'iface wan0 inet dhcp\n' : 'iface wan0 inet static\n\taddress 10.1.0.2/24\n\tgateway 10.1.0.1\n';
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^iface wan0 inet .*\n(\t.*\n)*/m, stanza));
    const r = await cli([...EXACT, '--iface', 'wan1', '--gw', '10.1.1.1', '--weight', '2', '--iface', 'wan2', '--gw', 'dhcp',
      '--probe', '203.0.113.1', '--probe', '203.0.113.2', '--backend', backend, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('uplinks before the default link: wan2 takes no default route in main, and ifup wan0 works', () => {
    reboot();
    let out = '';
    for (const i of ['wan1', 'wan2']) out += lab.ifup(i).stderr;
    expect(sh('ip route show default').stdout).toBe('');
    expect(sh('cat /run/linkbal/dhcp/wan2').stdout).toBe('10.1.2.1\n');
    out += lab.ifup('wan0').stderr;
    expect(sh('ip -4 -o addr show dev wan0').stdout).toMatch(new RegExp(` ${wan0 === 'dhcp' ? pool(0, 50) : '10\\.1\\.0\\.2'}/24 `));
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

  if (backend !== 'iptables') return;
  // a new lease of wan2 while it is in balance; then: wan2's table has ROUTER, main's default
  // route is still wan0's, and each link carries its share
  const after = (router: string) => {
    sh(`for i in $(seq 75); do ip route show table 103 | grep -q "via ${router.replace(/\./g, '\\.')} " && exit 0; sleep 0.2; done; exit 1`);
    lab.settled(); // the hook's rules up set the route, then loads the ruleset
    expect(sh('ip route show table 103').stdout).toBe(`default via ${router} dev wan2 \n`);
    expect(sh('cat /run/linkbal/up/wan2').stdout).toMatch(new RegExp(`^${router.replace(/\./g, '\\.')} `));
    expect(sh('ip route show default').stdout).toMatch(/^default via 10\.1\.0\.1 dev wan0 [^\n]*\n$/);
    shares();
  };
  const events = () => fs.readFileSync(path.join(lab.root, 'run/reasons'), 'utf8');

  it('a renewal (RENEW) with another router puts it in the link\'s table, never in main', () => {
    lab.dhcpRouter('wan2', '10.1.2.254');
    // dnsmasq's T1 is 2 s: the running dhclient renews within it, then the hook's background update
    after('10.1.2.254');
    expect(events()).toMatch(new RegExp(`^RENEW (${pool(2, 50)}) \\1 10\\.1\\.2\\.254$`, 'm'));
  });

  it('a rebinding (the server does not answer the renewal, a broadcast after T2 is) with another router, likewise', () => {
    // the ISP drops DHCP sent to its own address (the renewal), not a broadcast (the rebinding)
    const nft = (cmd: string) => {
      const r = lab.netexec('isp2', ['nft', cmd]);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    nft('add table ip rebind; add chain ip rebind dhcp { type filter hook input priority 0; };'
      + ' add rule ip rebind dhcp udp dport 67 ip daddr != 255.255.255.255 counter drop;'
      + ' add rule ip rebind dhcp udp dport 67 ip daddr 255.255.255.255 counter');
    fs.writeFileSync(path.join(lab.root, 'run/reasons'), '');
    try {
      lab.dhcpRouter('wan2', '10.1.2.253');
      after('10.1.2.253');
      // renewals reached the ISP and were dropped; a broadcast one got the answer
      const counters = nft('list table ip rebind');
      expect(counters).toMatch(/daddr != 255\.255\.255\.255 counter packets [1-9]/);
      expect(counters).toMatch(/daddr 255\.255\.255\.255 counter packets [1-9]/);
    } finally {
      nft('delete table ip rebind');
    }
    // isc-dhcp-client 4.4 reports this rebinding (a broadcast after T2) as RENEW, as seen here
    expect(events()).toMatch(new RegExp(`^(REBIND|RENEW) (${pool(2, 50)}) \\2 10\\.1\\.2\\.253$`, 'm'));
  });

  it('a new binding (BOUND) with another address and option 121: its default route is the link\'s router, never main\'s; its other routes go to main', () => {
    // option routers says .251, option 121's default route .252: RFC 3442 says 121 wins
    lab.netexec('isp2', ['ip', 'addr', 'add', '10.1.2.252/24', 'dev', 'tohost']);
    fs.writeFileSync(path.join(lab.root, 'run/reasons'), '');
    lab.dhcpRouter('wan2', '10.1.2.251', { pool: 70, classless: '10.9.9.0/24,10.1.2.252,0.0.0.0/0,10.1.2.252' });
    after('10.1.2.252');
    // the renewal refused (the address is no longer the server's), the lease gone, a new one
    expect(events()).toMatch(new RegExp(`^EXPIRE ${pool(2, 50)} [^]*^BOUND +${pool(2, 70)} 10\\.1\\.2\\.251$`, 'm'));
    expect(sh('ip -4 -o addr show dev wan2').stdout).toMatch(new RegExp(` inet ${pool(2, 70)}/24 `));
    expect(sh('cat /run/linkbal/dhcp/wan2').stdout).toBe('10.1.2.252\n');
    // Debian's exit hook added the specific route to main, and nothing else
    expect(sh('ip route show table main | grep -v "proto kernel"').stdout).toBe(
      'default via 10.1.0.1 dev wan0 \n10.9.9.0/24 via 10.1.2.252 dev wan2 \n');
    expect(lab.serverLog().filter((e) => new RegExp(`^${pool(2, 70)}$`).test(e.remote)).length).toBe(10);
  });

  it('a new binding (BOUND) with another address and the same router: the router goes back in the link\'s table', () => {
    // the old address went with its routes, the link's default route too: the hook runs
    // `rules up wan2` all the same (it writes up/wan2 anew), and the ruleset names the new
    // address (a socket bound to it keeps wan2), not the old one
    const addr = () => /inet (\S+)\//.exec(sh('ip -4 -o addr show dev wan2').stdout)?.[1];
    const old = addr();
    const inode = () => sh('stat -c %i /run/linkbal/up/wan2').stdout;
    const before = inode();
    fs.writeFileSync(path.join(lab.root, 'run/reasons'), '');
    lab.dhcpRouter('wan2', '10.1.2.252', { pool: 90, classless: '10.9.9.0/24,10.1.2.252,0.0.0.0/0,10.1.2.252' });
    sh(`for i in $(seq 75); do ip -4 -o addr show dev wan2 | grep -Eq " ${pool(2, 90)}/" && exit 0; sleep 0.2; done; exit 1`);
    after('10.1.2.252');
    expect(inode()).not.toBe(before);
    expect(events()).toMatch(new RegExp(`^BOUND +${pool(2, 90)} 10\\.1\\.2\\.252$`, 'm'));
    const rules = sh("iptables-save -t mangle | grep -v '^#'").stdout;
    expect(rules).toContain(` ${addr()}/32 `);
    expect(rules).not.toContain(` ${old}/32 `);
    expect(lab.serverLog().filter((e) => new RegExp(`^${pool(2, 90)}$`).test(e.remote)).length).toBe(10);
  });
});
