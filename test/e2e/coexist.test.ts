// A good citizen on a router that runs other software too (issue 15): VPNs with their own
// marks and policy rules, other users of the packet and connection marks, sockets that chose
// their uplink, the FTP helper, and the default link listed as an uplink. For each backend.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const BACKENDS = ['iptables', 'nftables'] as const;
const BASE = ['--iface', 'wan1', '--gw', '10.1.1.1', '--weight', '2', '--iface', 'wan2', '--gw', '10.1.2.1',
  '--lan', 'lan0', '--probe', '203.0.113.1', '--probe', '203.0.113.2'];
const TUNNEL = '10.200.0.2'; // the router's end of the lab's stand-in for a VPN tunnel

/** A VPN as its own tool sets it up: a tunnel device (a veth into the lab's internet: this
 *  kernel has no wireguard module), its policy rules, and the mark its own socket uses. */
interface Vpn {
  name: string;
  dev: string;
  /** the mark of the VPN's own packets (decimal, for ping -m) */
  mark: number;
  up: string;
  down: string;
}

const WG: Vpn = {
  name: "wg-quick's",
  dev: 'wg0',
  mark: 51820,
  // exactly what wg-quick runs for AllowedIPs 0.0.0.0/0 (Table auto, FwMark 51820)
  up: `ip -4 route add 0.0.0.0/0 dev wg0 table 51820
    ip -4 rule add not fwmark 51820 table 51820
    ip -4 rule add table main suppress_prefixlength 0
    sysctl -q net.ipv4.conf.all.src_valid_mark=1
    nft -f - <<'EOF'
table ip wg-quick-wg0 {
  chain preraw { type filter hook prerouting priority raw; policy accept;
    iifname != "wg0" ip daddr ${TUNNEL} fib saddr type != local drop; }
  chain premangle { type filter hook prerouting priority mangle; policy accept;
    meta l4proto udp meta mark set ct mark; }
  chain postmangle { type filter hook postrouting priority mangle; policy accept;
    meta l4proto udp meta mark 0x0000ca6c ct mark set meta mark; }
}
EOF`,
  down: `ip -4 rule del not fwmark 51820 table 51820
    ip -4 rule del table main suppress_prefixlength 0
    nft delete table ip wg-quick-wg0`,
};

const TAILSCALE: Vpn = {
  name: "Tailscale's (exit node)",
  dev: 'ts0',
  mark: 0x80000,
  // tailscaled's rules and table 52, with an exit node in use
  up: `ip rule add fwmark 0x80000/0xff0000 lookup main pref 5210
    ip rule add fwmark 0x80000/0xff0000 lookup default pref 5230
    ip rule add fwmark 0x80000/0xff0000 unreachable pref 5250
    ip rule add lookup 52 pref 5270
    ip route add default dev ts0 table 52`,
  down: 'for p in 5210 5230 5250 5270; do ip rule del pref $p; done',
};

describe.each(BACKENDS)('sharing the router, with the %s backend', (backend) => {
  let lab: Lab;
  const render = async (...more: string[]) => {
    const r = await cli([...EXACT, ...BASE, '--backend', backend, ...more, '--root', lab.root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  };
  const sh = (script: string) => lab.execOk(['sh', '-c', script]).stdout;
  const rules = (...args: string[]) => lab.execOk(['/etc/linkbal/rules', ...args]).stdout;
  const spread = (n: number, opts = {}) => {
    const r = lab.connections(n, opts);
    expect(r.errorMessages).toEqual([]);
    return r.counts;
  };
  /** a tunnel device DEV into the lab's internet (10.200.0.1 there, TUNNEL here) */
  const tunnel = (dev: string) => {
    lab.netexec('host', ['ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}peer`, 'netns', `lb-${lab.name}-net`]);
    sh(`ip addr add ${TUNNEL}/30 dev ${dev} && ip link set ${dev} up`);
    lab.netexec('net', ['sh', '-c', `ip addr add 10.200.0.1/30 dev ${dev}peer && ip link set ${dev}peer up`]);
  };
  /** counters of the packets to the lab server leaving by each device: TCP, ICMP with the
   *  socket mark MARK, and ICMP with the default link's mark (its tracker's probes) */
  const DEVICES = ['wan0', 'wan1', 'wan2', 'wg0', 'ts0'];
  const count = (mark: number) => `nft -f - <<'EOF'
table ip count {
${DEVICES.flatMap((d) => ['tcp', 'icmp', 'track'].map((p) => `  counter ${d}_${p} {}`)).join('\n')}
  chain post { type filter hook postrouting priority 500; policy accept;
${DEVICES.map((d) => `    ip daddr 203.0.113.0/24 oifname "${d}" meta l4proto tcp counter name "${d}_tcp"
    ip daddr 203.0.113.0/24 oifname "${d}" meta l4proto icmp meta mark ${mark} counter name "${d}_icmp"
    ip daddr 203.0.113.0/24 oifname "${d}" meta l4proto icmp meta mark 0x01000000 counter name "${d}_track"`).join('\n')}
  }
}
EOF`;
  const counted = (): Record<string, number> => {
    const out = sh('nft list counters table ip count');
    const r: Record<string, number> = {};
    for (const m of out.matchAll(/counter (\w+) \{\s*packets (\d+)/g)) r[m[1] as string] = Number(m[2]);
    return r;
  };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, lan: true });
    lab.execOk(['nft', 'add table ip admin; add chain ip admin post { type nat hook postrouting priority srcnat; };'
      + ' add rule ip admin post oifname { "wan0", "wg0", "ts0" } ip saddr 10.3.0.0/24 masquerade']);
    lab.ifup('wan0');
    await render();
    for (const i of ['wan1', 'wan2']) lab.ifup(i);
  });
  afterEach(async () => {
    sh(`${WG.down} 2>/dev/null; ${TAILSCALE.down} 2>/dev/null; ip link del wg0 2>/dev/null; ip link del ts0 2>/dev/null
      nft delete table ip count 2>/dev/null; nft delete table ip foreign 2>/dev/null; true`);
    await render();
    for (const i of ['wan0', 'wan1', 'wan2']) lab.ifup(i);
    rules('restart');
  });
  afterAll(() => lab?.destroy());

  describe.each([WG, TAILSCALE])('with $name rules', (vpn) => {
    it.each(['after', 'before'])('routes the VPN\'s own packets by its rules and sends the rest into the tunnel, VPN started %s linkbal', (when) => {
      tunnel(vpn.dev);
      if (when === 'before') rules('stop');
      sh(vpn.up);
      if (when === 'before') rules('start');
      sh(count(vpn.mark));
      // the VPN's own packets (its socket's mark) leave by the main table's default route
      const ping = sh(`ping -n -c 6 -i 0.2 -W 2 -m ${vpn.mark} 203.0.113.1 | grep -c 'bytes from'; true`);
      expect(Number(ping.trim())).toBe(6);
      // ordinary connections enter the tunnel: the server sees the tunnel's address
      expect(spread(12)).toEqual({ [TUNNEL]: 12 });
      // forwarded ones too (nftables: the iptables backend cannot see the route a forwarded
      // connection would take, see the README)
      if (backend === 'nftables') expect(spread(6, { fromLan: true })).toEqual({ [TUNNEL]: 6 });
      const c = counted();
      expect([c.wan0_icmp, c[`${vpn.dev}_icmp`]]).toEqual([6, 0]);
      // not one packet of the ordinary connections leaked to an uplink
      expect([c.wan0_tcp, c.wan1_tcp, c.wan2_tcp]).toEqual([0, 0, 0]);
      expect(c[`${vpn.dev}_tcp`]).toBeGreaterThan(0);
      // the default link's tracker probes the default link, not the tunnel (linkbal's rule for
      // the default link's mark comes before the VPN's, unless wg-quick put its own first)
      if (vpn === TAILSCALE || when === 'before') {
        expect(c.wan0_track).toBeGreaterThan(0);
        expect(c[`${vpn.dev}_track`]).toBe(0);
      }
      // the VPN gone, balancing is as before
      sh(`${vpn.down}; ip link del ${vpn.dev}`);
      rules('restart');
      expect(spread(40)).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    });
  });

  it('writes only its own bits of the packet and connection marks, in both directions', () => {
    // another tool sets bit 0x10 of every connection's mark and bit 0x1 of every packet that
    // comes in on an established connection, before linkbal's chains; after them, counters
    // see whether those bits, and linkbal's own, are all still there
    sh(`nft -f - <<'EOF'
table ip foreign {
  chain early_out { type route hook output priority -160; policy accept; ct mark set ct mark or 0x10; }
  chain early_pre { type filter hook prerouting priority -160; policy accept;
    ct state established meta mark set meta mark or 0x1; }
  chain late_post { type filter hook postrouting priority 500; policy accept;
    oifname "wan1" tcp dport 8080 counter
    oifname "wan1" tcp dport 8080 ct mark and 0x3f000010 == 0x02000010 meta mark and 0x3f000000 == 0x02000000 counter; }
  chain late_pre { type filter hook prerouting priority -140; policy accept;
    iifname "wan1" tcp sport 8080 counter
    iifname "wan1" tcp sport 8080 ct mark and 0x3f000010 == 0x02000010 meta mark and 0x3f000001 == 0x02000001 counter; }
}
EOF`);
    expect(spread(40)).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    const out = sh('nft list table ip foreign');
    const n = [...out.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
    expect(n).toHaveLength(4);
    const [outAll, outKept, inAll, inKept] = n as [number, number, number, number];
    expect(outAll).toBeGreaterThan(40);
    expect(inAll).toBeGreaterThan(40);
    expect([outKept, inKept]).toEqual([outAll, inAll]);
  });

  it('balances within a mark mask of the admin\'s choice', async () => {
    await render('--mark-mask', '0x700');
    rules('restart');
    expect(spread(40)).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    expect(sh('conntrack -L -p tcp --dport 8080 2>/dev/null')).toMatch(/mark=512 /);
  });

  it('keeps a socket bound to an uplink\'s address or device on that uplink', () => {
    const seen = () => sh(`for i in 1 2 3; do
        for b in 10.1.1.2 wan1 10.1.2.2 wan2; do echo "$b $(curl -s -m 3 --interface $b http://203.0.113.1:8080/)"; done
      done`).trim().split('\n');
    const expected = Array(3).fill(['10.1.1.2 10.1.1.2', 'wan1 10.1.1.2', '10.1.2.2 10.1.2.2', 'wan2 10.1.2.2']).flat();
    expect(seen()).toEqual(expected);
    // unbound connections in between are still spread by weight
    expect(spread(40)).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    // with the default link down, a socket bound to a link other than the fallback one
    // (wan1, whose address unbound connections then start with) keeps it too
    lab.ifdown('wan0');
    expect(sh('for b in 10.1.2.2 wan2 10.1.2.2 wan2; do curl -s -m 3 --interface $b http://203.0.113.1:8080/; echo; done').trim().split('\n'))
      .toEqual(Array(4).fill('10.1.2.2'));
    expect(spread(30)).toEqual({ wan1: 20, wan2: 10 });
  });

  it('attaches the FTP helper to outgoing connections only', () => {
    sh('(busybox nc -l -p 21 </dev/null >/dev/null 2>&1 &); sleep 0.3');
    lab.netexec('net', ['sh', '-c', 'busybox nc -w 1 10.1.1.2 21 </dev/null >/dev/null 2>&1; true']);
    sh('curl -s -m 3 ftp://203.0.113.1/x >/dev/null; true');
    const ct = sh('conntrack -L -p tcp --dport 21 2>/dev/null');
    expect(ct).toMatch(/^tcp .* dst=10\.1\.1\.2 .*dport=21 /m); // the inbound one was seen
    expect(ct).not.toMatch(/^tcp .* dst=10\.1\.1\.2 .*dport=21 .*helper=ftp/m);
    expect(ct).toMatch(/^tcp .* dst=203\.0\.113\.1 .*dport=21 .*helper=ftp/m);
  });

  it('refuses the default link listed as an uplink, and follows it as the default link', async () => {
    await render('--iface', 'wan0', '--gw', '10.1.0.1', '--weight', '3');
    const r = lab.exec(['/etc/linkbal/rules', 'restart']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/wan0: not taken in as a listed uplink: the main table's default route leaves by it/);
    // the default link's share (1), not a listed link's (3)
    expect(spread(40)).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    lab.ifdown('wan0');
    expect(rules('status')).toMatch(/^default\s+down/m);
    expect(spread(30)).toEqual({ wan1: 20, wan2: 10 });
    lab.ifup('wan0');
    expect(rules('status')).toMatch(/^default\s+up/m);
    expect(rules('status')).not.toMatch(/^wan0\s+up/m);
  });
});
