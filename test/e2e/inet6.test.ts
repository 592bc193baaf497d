// Dual stack (issue 13), for each backend: the lab with IPv6 (uplink I 2001:db8:1:I::2/64,
// wan2's IPv6 from router advertisements), measured at the server (the source address it
// saw) and at the ISPs (IPv6 packets dropped for another ISP's source). One lab a backend
// for every assertion: each test leaves every link up. With iptables also: a load refused
// in one family leaves both as they were, and the guard loads IPv6's chains again when a
// firewall reload removed only those.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { EXACT, cli, savedRuleset } from '../helpers.js';

const BACKENDS = ['nftables', 'iptables'] as const;
const ARGS = [
  '--iface', 'wan1', '--gw', '10.1.1.1', '--gw6', '2001:db8:1:1::1', '--weight', '2',
  '--iface', 'wan2', '--gw', '10.1.2.1', '--gw6', 'auto', '--probe', 'none',
];
const SERVER6 = '2001:db8:ff::1';

describe.each(BACKENDS)('dual stack with the %s backend', (backend) => {
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
    const r = await cli([...EXACT, ...ARGS, '--backend', backend, '--root', lab.root]);
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

  it('rules status shows the IPv6 sides: gateway, share, IPv6 connections and bytes', () => {
    const out = rules('status').replace(/[ \t]+/g, ' ');
    expect(out).toMatch(/\nIPv6\nlink state gateway weight share conns bytes\ndefault up main-table 1 25% \d+ \d+ /);
    expect(out).toMatch(/\nwan1 up 2001:db8:1:1::1 2 50% \d+ \d+ /);
    expect(out).toMatch(/\nwan2 up fe80::[0-9a-f:]+ 1 25% \d+ \d+ /);
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

  if (backend === 'iptables') {
    const sh = (script: string) => lab.execOk(['sh', '-c', script]);
    /** raw, nat and mangle of both families as the kernel holds them, counters and comments left out */
    const tables = () => sh(`for t in raw nat mangle; do iptables-save -t $t; ip6tables-save -t $t; done |
      grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'`).stdout;
    /** the ruleset loaded last with new rules in raw and nat of both families, and BAD at the
     *  end of FAMILY's mangle (the batches: IPv4 first, then IPv6; lb_load) */
    const changed = (bad: string, family: 4 | 6) => sh(`awk -v bad='${bad}' -v fam=${family} '
      /^# ---- IPv6/ { f = 6 } /^# ---- IPv4/ { f = 4 } /^\\*/ { t = $1 }
      $1 == "COMMIT" && t == "*raw" { print "-A linkbal-helper -p tcp --dport 2121 -j CT --helper ftp" }
      $1 == "COMMIT" && t == "*nat" { print "-A linkbal-nat -o wan9 -j MASQUERADE" }
      $1 == "COMMIT" && t == "*mangle" && (f ? f : 4) == fam { print bad }
      { print }' /run/linkbal/ruleset >/run/linkbal/test.ruleset`);
    const load = (file: string) => lab.exec(['sh', '-c', `LB_SOURCED=1; . /etc/linkbal/rules; lb_load ${file}`]);

    it.each([6, 4] as const)('iptables: a load refused in the IPv%s mangle leaves both families as they were', (family) => {
      const before = tables();
      expect(before).toMatch(/-A linkbal-nat -o wan1 -j MASQUERADE\n[^]*-A linkbal-nat -o wan1 -j MASQUERADE\n/);
      // refused by the kernel at commit (MASQUERADE outside nat), after the tables before it
      // (and with IPv6's refused, all of IPv4's) committed
      const bad = '-A linkbal-out -j MASQUERADE';
      changed(bad, family);
      const r = load('/run/linkbal/test.ruleset');
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(family === 6 ? /^ip6tables-restore/m : /^iptables-restore/m);
      expect(tables()).toBe(before);
      // the good part alone loads, and changes raw and nat of both families: the check above could fail
      sh(`grep -vxF -e '${bad}' /run/linkbal/test.ruleset >/run/linkbal/good.ruleset`);
      expect(load('/run/linkbal/good.ruleset').status).toBe(0);
      expect(tables().match(/--dport 2121 |-o wan9 /g)).toHaveLength(4);
      rules('reload');
      expect(tables()).toBe(before);
    });

    // the guard's lb_loaded asks both families; the look and status hold linkbal's lock, so
    // the guard's reload waits for them
    it.each([
      ['ip6tables -t mangle -F', 'ip6tables -t mangle -F'],
      ['a full ip6tables-restore of a saved ruleset', `ip6tables-restore <<'EOF'\n${savedRuleset()}EOF`],
    ])('iptables: the guard loads IPv6 again after %s, and status says so in between', (_name, wipe) => {
      const held6 = "ip6tables-save -t mangle | grep -q -- '-A OUTPUT -j linkbal-out'";
      const r = lab.exec(['flock', '/run/linkbal/lock', 'sh', '-c', `{ ${wipe}
} >/dev/null 2>&1; ! ${held6} && iptables-save -t mangle | grep -q -- '-A OUTPUT -j linkbal-out' &&
        LB_SOURCED=1 && . /etc/linkbal/rules && lb_status_rules`]);
      expect(r.stdout).toBe('missing from the kernel (removed by another program?); the guard loads them again\n');
      expect(r.status).toBe(1);
      const end = Date.now() + 5000;
      while (lab.exec(['sh', '-c', held6]).status !== 0) {
        expect(Date.now(), 'the guard loaded the IPv6 chains again within 5 s').toBeLessThan(end);
        sh('sleep 0.1');
      }
      expect(rules('status').split('\n')[0]).toBe('linkbal: backend iptables, mode nth, rules loaded');
      expect(spread(40, [SERVER6])).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
    });

    it('iptables: a stop refused in IPv6 keeps both families\' chains, and says so (the last test before stop)', () => {
      // someone else's chain goes to linkbal's (-g): the kernel keeps linkbal-out and refuses
      // IPv6's mangle part of the unload, after IPv4's went through
      sh('ip6tables -t mangle -N fw-test && ip6tables -t mangle -A fw-test -g linkbal-out');
      const before = tables();
      const r = lab.exec(['/etc/linkbal/rules', 'stop']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^linkbal: stop: the kernel kept linkbal's ruleset/m);
      expect(tables()).toBe(before);
      // the cause gone, the next stop (the test below) takes the rest
      sh('ip6tables -t mangle -F fw-test && ip6tables -t mangle -X fw-test');
    });
  }

  it('stop takes every IPv6 rule, route and chain away', () => {
    rules('stop');
    expect(lab.execOk(['ip', '-6', 'rule']).stdout).not.toMatch(/lookup (10[0-9]|linkbal)|fwmark/);
    expect(lab.execOk(['ip', '-6', 'route', 'show', 'table', 'all']).stdout).not.toMatch(/table linkbal|table 10[0-9]/);
    expect(lab.execOk(['sh', '-c', 'nft list ruleset; ip6tables-save; iptables-save']).stdout).not.toContain('linkbal');
    rules('start');
    expect(spread(40, [SERVER6])).toEqual({ wan0: 10, wan1: 20, wan2: 10 });
  });
});
