// make trixie runs this tier's other files (see the Makefile) in labs whose host namespace has a
// Debian 13 userland (LINKBAL_LAB_USERLAND, scripts/trixie-root.sh). This file proves they do:
// what the lab's exec runs is trixie's, in the versions the README names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';

describe('the lab on a trixie userland', () => {
  let lab: Lab | undefined;
  const sh = (script: string) => (lab as Lab).execOk(['sh', '-c', script]).stdout;
  beforeAll(() => {
    if (!process.env.LINKBAL_LAB_USERLAND) throw new Error('LINKBAL_LAB_USERLAND is not set: run make trixie');
    lab = Lab.create({ uplinks: 1 });
  });
  afterAll(() => { lab?.destroy(); });

  it('runs trixie\'s sh, ip, nft, iptables, ifupdown, dhclient, conntrack, nodejs and apt', () => {
    expect(sh('. /etc/os-release; echo "$VERSION_CODENAME"')).toBe('trixie\n');
    // the programs on PATH, by their own word (bookworm has none of these versions)
    expect(sh('ip -V')).toMatch(/iproute2-6\.15\./);
    expect(sh('nft --version')).toMatch(/^nftables v1\.1\./);
    expect(sh('iptables --version')).toBe('iptables v1.8.11 (nf_tables)\n');
    expect(sh('conntrack --version')).toMatch(/ v1\.4\.8 /);
    expect(sh('dhclient --version 2>&1')).toBe('isc-dhclient-4.4.3-P1\n');
    expect(sh('apt-get --version | head -n 1')).toMatch(/^apt 3\./);
    // and by the root's dpkg database, for those that do not say (sh is dash, ifup, node)
    expect(sh('readlink -f "$(command -v sh)"; command -v ifup; command -v node')).toBe('/usr/bin/dash\n/usr/sbin/ifup\n/usr/bin/node\n');
    const v = sh("dpkg-query -W -f '${Package} ${Version}\\n' dash ifupdown isc-dhcp-client nodejs");
    expect(v).toMatch(/^dash 0\.5\.12-/m);
    expect(v).toMatch(/^ifupdown 0\.8\.44/m);
    expect(v).toMatch(/^isc-dhcp-client 4\.4\.3-P1-8/m);
    expect(v).toMatch(/^nodejs 20\./m);
    expect(sh('dpkg -S /usr/bin/node /usr/sbin/ifup')).toBe('nodejs: /usr/bin/node\nifupdown: /usr/sbin/ifup\n');
  });

  it('lists connections with conntrack as the kernel does, which status and the learner read without /proc/net/nf_conntrack', () => {
    (lab as Lab).ifup('wan0');
    // a netns tracks connections once a rule asks for it; with counters, as linkbal's rules have them
    sh(`sysctl -qw net.netfilter.nf_conntrack_acct=1
      nft 'add table ip t; add chain ip t out { type filter hook output priority 0; }; add rule ip t out ct state new accept'
      curl -s -m 3 http://203.0.113.1:8080/ >/dev/null`);
    // what lb_conntrack's readers take from a line: the protocol, the TCP state, the addresses, marks and counters
    const fields = (text: string) => text.split('\n').filter((l) => / dst=203\.0\.113\.1 .*dport=8080 /.test(l))
      .map((l) => { const f = l.trim().split(/\s+/); return [f[2], f[5], ...f.filter((x) => /^(src|dst|sport|dport|packets|bytes|mark)=/.test(x))].join(' '); });
    const kernel = fields(sh('cat /proc/net/nf_conntrack'));
    expect(kernel).toHaveLength(1);
    expect(kernel[0]).toMatch(/^tcp TIME_WAIT src=10\.1\.0\.2 dst=203\.0\.113\.1 sport=\d+ dport=8080 packets=\d+ bytes=\d+ .* mark=0$/);
    expect(fields(sh('conntrack -L -o extended 2>/dev/null'))).toEqual(kernel);
  });
});
