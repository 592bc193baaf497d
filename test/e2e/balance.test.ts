// linkbal on a real kernel with real ifupdown, for each backend: the HOWTO's layout
// (default link wan0 weight 1, wan1 weight 2, wan2 weight 1 over DHCP), measured at the
// server: which uplink address it saw.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { Lab, uplinkOf } from '../lab/lab.js';
import { EXACT, cli, expectChiSquareFit, linksByHost } from '../helpers.js';

const BACKENDS = ['iptables', 'nftables'] as const;

const BASE = [
  '--iface', 'wan1', '--gw', '10.1.1.1', '--weight', '2',
  '--iface', 'wan2', '--gw', 'dhcp',
  '--lan', 'lan0',
  '--bypass-dst', '203.0.113.3', '--bypass-port', 'tcp/80,443', '--bypass-port', 'udp/53',
  '--probe', '203.0.113.1', '--probe', '203.0.113.2', // the lab's own servers, never a public address
];
const EXTRA_SERVERS = Array.from({ length: 9 }, (_, i) => `203.0.113.${i + 10}`);

/** The state linkbal is responsible for: netfilter (counters stripped), ip rules, routes
 *  outside the main and local tables, and the sysctls it changes. */
function dump(lab: Lab): string {
  return lab.execOk(['sh', '-c', `
    nft -s list ruleset
    iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'
    ip rule
    ip route show table all | grep ' table ' | grep -v -e 'table local' -e 'table main'
    for k in net.netfilter.nf_conntrack_acct net.ipv4.conf.wan1.rp_filter net.ipv4.conf.wan2.rp_filter \\
      net.ipv4.conf.wan1.src_valid_mark net.ipv4.conf.wan2.src_valid_mark; do echo "$k=$(sysctl -n $k)"; done
  `]).stdout;
}

describe.each(BACKENDS)('balancing with the %s backend', (backend) => {
  let lab: Lab;
  let before: string;
  const render = async (...more: string[]) => {
    const r = await cli([...EXACT, ...BASE, '--backend', backend, ...more, '--root', lab.root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  };
  const rules = (...args: string[]) => lab.execOk(['/etc/linkbal/rules', ...args]).stdout;
  const spread = (n: number, opts = {}) => {
    const r = lab.connections(n, opts);
    expect(r.errorMessages).toEqual([]);
    return r;
  };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, dhcp: ['wan2'], lan: true });
    // the admin's own router setup, which linkbal must leave alone: NAT of the LAN on the
    // default link, in a table of its own, and more server addresses for the hash test
    lab.execOk(['nft', 'add table ip admin; add chain ip admin post { type nat hook postrouting priority srcnat; };'
      + ' add rule ip admin post oifname "wan0" ip saddr 10.3.0.0/24 masquerade']);
    for (const a of EXTRA_SERVERS) lab.netexec('net', ['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
    lab.ifup('wan0');
    before = dump(lab);
    await render();
    for (const i of ['wan1', 'wan2']) {
      const r = lab.ifup(i);
      expect(r.stderr, `ifup ${i} printed`).not.toMatch(/linkbal/);
    }
  });
  // whatever a test did, and however it ended: the base settings, every link up, the rules
  // loaded afresh (the round robin starts over), so that one failure stays one failure
  afterEach(async () => {
    await render();
    for (const i of ['wan0', 'wan1', 'wan2']) lab.ifup(i);
    rules('restart');
  });
  afterAll(() => lab?.destroy());

  it('spreads new connections exactly by weight in nth mode (1:2:1)', () => {
    const r = spread(400);
    expect(r.counts).toEqual({ wan0: 100, wan1: 200, wan2: 100 });
    // smooth: never the same link three times running
    expect(r.order.join(' ')).not.toMatch(/(wan\d) \1 \1/);
  });

  it('learns the DHCP gateway of wan2 and reports every link in status', () => {
    const s = rules('status');
    expect(s).toMatch(/^default\s+up\s+main-table\s+1\s+25%/m);
    expect(s).toMatch(/^wan1\s+up\s+10\.1\.1\.1\s+2\s+50%/m);
    expect(s).toMatch(/^wan2\s+up\s+10\.1\.2\.1\s+1\s+25%/m);
    const conns = Number(/^wan1\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)/m.exec(s)?.[1]);
    expect(conns).toBeGreaterThan(0);
  });

  it('lets connections to connected networks keep their route, without taking a turn', () => {
    // before every balanced connection, a ping to a neighbour: an uplink's gateway (as a DHCP
    // renewal or the modem's web page), a LAN host. Had they taken turns, the balanced
    // connections would fall on every other slot of the round robin, not on each in turn.
    const out = lab.execOk(['sh', '-c', `for k in $(seq 100); do
        set -- 10.1.0.1 10.1.1.1 10.1.2.1 10.3.0.2; shift $((k % 4))
        ping -c 1 -W 2 "$1" >/dev/null || { echo "no answer from $1"; exit 1; }
        curl -s -m 3 http://203.0.113.1:8080/; echo
      done`]).stdout;
    const order = out.trim().split('\n').map(uplinkOf);
    const counts: Record<string, number> = {};
    for (const u of order) counts[u] = (counts[u] ?? 0) + 1;
    expect(counts).toEqual({ wan0: 25, wan1: 50, wan2: 25 });
    // the host's pings to them carry no link mark: they were never chosen
    const ct = lab.execOk(['sh', '-c', 'conntrack -L -p icmp 2>/dev/null']).stdout;
    expect(ct).toMatch(/dst=10\.1\.2\.1 .*mark=0 /);
    expect(ct).not.toMatch(/^icmp +\d+ \d+ src=\S+ dst=(10\.1\.[012]\.1|10\.3\.0\.2) .*mark=[1-9]/m);
  });

  it('re-spreads a downed link\'s share by weight (1:0:1) and takes it back on ifup', () => {
    lab.ifdown('wan1');
    expect(spread(200).counts).toEqual({ wan0: 100, wan2: 100 });
    expect(rules('status')).toMatch(/^wan1\s+down/m);
    lab.ifup('wan1');
    expect(spread(400).counts).toEqual({ wan0: 100, wan1: 200, wan2: 100 });
  });

  it('gives the default link\'s share to the others while it is down, and takes it back on ifup', () => {
    lab.ifdown('wan0'); // the main table loses its default route
    const r = spread(30);
    expect(r.counts).toEqual({ wan1: 20, wan2: 10 });
    expect(rules('status')).toMatch(/^default\s+down/m);
    lab.ifup('wan0');
    expect(spread(400).counts).toEqual({ wan0: 100, wan1: 200, wan2: 100 });
  });

  it('leaves exactly the state of one ifup after ifup twice, or ifdown then ifup', () => {
    const once = dump(lab);
    expect(once).toContain('lookup linkbal-wan1'); // the table's name (/etc/iproute2/rt_tables.d/linkbal.conf)
    lab.ifup('wan1');
    expect(dump(lab)).toBe(once);
    lab.ifdown('wan1');
    expect(dump(lab)).not.toBe(once);
    lab.ifup('wan1');
    expect(dump(lab)).toBe(once);
    lab.ifdown('wan2');
    lab.ifup('wan2');
    expect(dump(lab)).toBe(once);
  });

  it('keeps bypassed destinations and ports on the default link', () => {
    expect(spread(40, { hosts: ['203.0.113.3'] }).counts).toEqual({ wan0: 40 });
    expect(spread(40, { port: 80 }).counts).toEqual({ wan0: 40 });
    expect(spread(40, { port: 443 }).counts).toEqual({ wan0: 40 });
    expect(spread(40, { udp: true, port: 53 }).counts).toEqual({ wan0: 40 });
    // UDP on another port is balanced
    expect(spread(40, { udp: true, port: 5353 }).counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  });

  it('balances connections forwarded from the LAN (--lan)', () => {
    // first a few connections that also resolve the neighbours
    expect(Object.keys(spread(8, { fromLan: true }).counts).sort()).toEqual(['wan0', 'wan1', 'wan2']);
    expect(spread(40, { fromLan: true }).counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  });

  it('answers a connection that came in on an uplink through that uplink', () => {
    // a service on the host; the ISPs drop packets with another uplink's source (rp_filter)
    lab.execOk(['sh', '-c', `${process.execPath} -e "require('http').createServer((q, s) => s.end('ok'))`
      + `.listen(9000)" >/dev/null 2>&1 &`]);
    lab.execOk(['sh', '-c', 'for i in $(seq 50); do ss -ltn | grep -q :9000 && exit 0; sleep 0.1; done; exit 1']);
    for (const i of [0, 1, 2]) {
      const addr = i === 2 ? lab.execOk(['sh', '-c', "ip -4 -o addr show dev wan2 | sed 's/.*inet \\([0-9.]*\\).*/\\1/'"]).stdout.trim()
        : `10.1.${i}.2`;
      const ping = lab.netexec('net', ['ping', '-c', '1', '-W', '2', addr]);
      expect(ping.status, `ping ${addr} (wan${i})`).toBe(0);
      const tcp = lab.netexec('net', ['curl', '-s', '-m', '3', `http://${addr}:9000/`]);
      expect(tcp.stdout, `http to ${addr} (wan${i})`).toBe('ok');
    }
  });

  it('keeps passive FTP data connections on the link of their control connection', () => {
    lab.clearServerLog();
    for (let k = 0; k < 8; k++) {
      const r = lab.exec(['curl', '-s', '-m', '5', 'ftp://203.0.113.1/x']);
      expect(r.status, r.stderr).toBe(0);
    }
    const log = lab.serverLog();
    const control = log.filter((e) => e.kind === 'ftp-control').map((e) => e.remote);
    const data = log.filter((e) => e.kind === 'ftp-data').map((e) => e.remote);
    expect(control).toHaveLength(8);
    expect(data).toEqual(control);
    expect(new Set(control).size).toBeGreaterThan(1);
  });

  it('hash mode: a destination keeps its link, destinations spread over links', async () => {
    await render('--mode', 'hash');
    rules('restart');
    const hosts = ['203.0.113.1', '203.0.113.2', ...EXTRA_SERVERS];
    const r = spread(hosts.length * 4, { hosts });
    for (const [h, links] of linksByHost(r.order, hosts)) expect(links.size, h).toBe(1);
    expect(new Set(r.order).size).toBeGreaterThan(1);
  });

  it('random mode: shares follow the weights (chi-square, p > 0.001)', async () => {
    await render('--mode', 'random');
    rules('restart');
    expectChiSquareFit(spread(400).counts, { wan0: 100, wan1: 200, wan2: 100 });
  });

  it('rules stop puts everything back as it was before linkbal', async () => {
    await render();
    rules('stop');
    expect(dump(lab)).toBe(before);
    // and start takes in the links that are up again
    rules('start');
    expect(spread(40).counts).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    expect(path.isAbsolute(lab.root)).toBe(true);
  });
});
