// Health tracking's settings (issue 10): --probe, --tier and --default-tier on the command
// line and in the config file, their defaults, bad values (exit 2, named, nothing written),
// and the settings they give the rules script (PROBES, DEFAULT_TIER, LINKS' tier column).
import { describe, expect, it } from 'vitest';
import fs from 'fs-extra';
import path from 'node:path';
import { HOWTO_ARGS, REPO, cli, expectConfigRoundTrip, read, rejects, tmpdir } from '../helpers.js';
import { DEFAULT_PROBES, DEFAULT_PROBES6 } from '../../src/model.js';

const LINK = ['--iface', 'wan1', '--gw', '10.1.1.1'];
const LINK6 = [...LINK, '--gw6', '2001:db8:1:1::1'];

async function rendered(args: string[]): Promise<{ rules: string; conf: string; stderr: string }> {
  const root = tmpdir();
  const r = await cli([...args, '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  return { rules: read(path.join(root, 'etc/linkbal/rules')), conf: read(path.join(root, 'etc/linkbal/linkbal.conf')), stderr: r.stderr };
}

describe('--probe, --tier, --default-tier', () => {
  it('default to the four documented resolvers and tier 1 (primary) for every link', async () => {
    expect(DEFAULT_PROBES).toEqual(['1.1.1.1', '8.8.8.8', '9.9.9.9', '208.67.222.222']);
    const { rules, conf } = await rendered(HOWTO_ARGS);
    expect(rules).toContain("\nPROBES='1.1.1.1 8.8.8.8 9.9.9.9 208.67.222.222'\t# ");
    expect(rules).toContain('\nDEFAULT_TIER=1\t# ');
    expect(rules).toContain("\nLINKS='\neth1 172.16.0.1 1 33554432 102 1\nrausb0 192.168.0.1 1 50331648 103 1\n'\n");
    expect(conf).toContain('\ndefault-tier 1\n');
    expect(conf).toContain('\nprobe 1.1.1.1\nprobe 8.8.8.8\nprobe 9.9.9.9\nprobe 208.67.222.222\n');
    // the documentation names the default list
    for (const doc of ['README.md', 'debian/linkbal-gen.1']) {
      for (const a of DEFAULT_PROBES) expect(read(path.join(REPO, doc)), doc).toContain(a);
    }
  });

  it('render the settings block the runtime reads', async () => {
    const { rules } = await rendered([...LINK, '--tier', '2', '--probe', '203.0.113.1', '--probe', '203.0.113.2']);
    expect(rules).toContain([
      'FLUSH_ON_DOWN=0\t# 1: a link going down drops its connections',
      "DEFAULT_TIER=1\t# the default link's failover tier (1: primary; higher: backups)",
      "PROBES='203.0.113.1 203.0.113.2'\t# addresses each link's tracker pings through it; empty: no tracking",
      "MARK_MASK=0x3f000000\t# the bits of the packet and conntrack marks linkbal uses; other bits are others'",
      "PREF=1000\t# ip rule priorities: PREF looks up main without its default route, PREF+K link K's table",
      '# the listed links: iface gateway weight mark table tier (link K, from 2: mark K*lowest bit of',
      '# MARK_MASK, in decimal; table the generator\'s --table-base + K)',
      "LINKS='",
      'wan1 10.1.1.1 1 33554432 102 2',
      "'",
    ].join('\n'));
  });

  it('give each link its own tier and the default link --default-tier', async () => {
    const { rules, conf } = await rendered(['--iface', 'a', '--gw', '10.0.0.1', '--tier', '9', '--iface', 'b', '--gw', 'dhcp',
      '--iface', 'c', '--tier', '3', '--gw', '10.0.2.1', '--default-tier', '2', '--probe', '192.0.2.1']);
    expect(rules).toContain("\nLINKS='\na 10.0.0.1 1 33554432 102 9\nb dhcp 1 50331648 103 1\nc 10.0.2.1 1 67108864 104 3\n'\n");
    expect(rules).toContain('\nDEFAULT_TIER=2\t');
    expect(conf).toContain('\ndefault-tier 2\n');
    expect(conf).toContain('\niface a gw 10.0.0.1 weight 1 tier 9\niface b gw dhcp weight 1 tier 1\niface c gw 10.0.2.1 weight 1 tier 3\n');
    expect(conf).toContain('\nprobe 192.0.2.1\n');
  });

  it('--probe none turns tracking off: PROBES is empty and the config file says none', async () => {
    const { rules, conf } = await rendered([...LINK, '--probe', 'none']);
    expect(rules).toContain("\nPROBES=''\t# ");
    expect(conf).toContain('\nprobe none\n');
    expect(conf).not.toMatch(/^probe \d/m);
  });

  it('takes up to 8 addresses, in the order given', async () => {
    const eight = [1, 2, 3, 4, 5, 6, 7, 8].flatMap((i) => ['--probe', `192.0.2.${i}`]);
    const { rules } = await rendered([...LINK, ...eight]);
    expect(rules).toContain("\nPROBES='192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8'\t");
    await rejects([...LINK, ...eight, '--probe', '192.0.2.9'], '--probe #9: "192.0.2.9" is one address to probe too many (at most 8 IPv4 addresses)');
    // each family its own 8
    const eight6 = [1, 2, 3, 4, 5, 6, 7, 8].flatMap((i) => ['--probe', `2001:db8::${i}`]);
    const { rules: both } = await rendered([...LINK6, ...eight, ...eight6]);
    expect(both).toContain("\nPROBES6='2001:db8::1 2001:db8::2 2001:db8::3 2001:db8::4 2001:db8::5 2001:db8::6 2001:db8::7 2001:db8::8'\t");
    await rejects([...LINK6, ...eight6, '--probe', '2001:db8::9'], '--probe #9: "2001:db8::9" is one address to probe too many (at most 8 IPv6 addresses)');
  });

  it('rejects bad values, each named with its flag and value, exit 2, nothing written', async () => {
    await rejects([...LINK, '--probe', '1.2.3'], '--probe #1: "1.2.3" is not an IPv4 or IPv6 address, or "none"');
    await rejects([...LINK, '--probe', '1.2.3.04'], '--probe #1: "1.2.3.04" is not an IPv4 or IPv6 address');
    await rejects([...LINK, '--probe', 'dns.google'], '--probe #1: "dns.google" is not an IPv4 or IPv6 address');
    await rejects([...LINK, '--probe', 'None'], '--probe #1: "None" is not an IPv4 or IPv6 address, or "none"');
    await rejects([...LINK, '--probe', '127.0.0.1'], '--probe #1: "127.0.0.1" is not a unicast address to probe');
    await rejects([...LINK, '--probe', '0.1.2.3'], '--probe #1: "0.1.2.3" is not a unicast address');
    await rejects([...LINK, '--probe', '224.0.0.1'], '--probe #1: "224.0.0.1" is not a unicast address');
    await rejects([...LINK, '--probe', '255.255.255.255'], '"255.255.255.255" is not a unicast address');
    await rejects([...LINK, '--probe', 'none', '--probe', '1.1.1.1'],
      '--probe #1: "none" (no health tracking) cannot go with an address to probe (--probe #2: "1.1.1.1")');
    await rejects([...LINK, '--probe', '192.0.2.1', '--probe', '192.0.2.1'],
      '--probe #2: "192.0.2.1" is given twice (also at --probe #1)');
    await rejects([...LINK, '--probe', 'none', '--probe', 'none'], '--probe #2: "none" is given twice (also at --probe #1)');
    await rejects([...LINK, '--tier', '0'], '--tier #1: "0" is not a tier (an integer 1-9');
    await rejects([...LINK, '--tier', '10'], '--tier #1: "10" is not a tier');
    await rejects([...LINK, '--tier', 'backup'], '--tier #1: "backup" is not a tier');
    await rejects([...LINK, '--tier', '1', '--tier', '2'], '--tier #2: "2" is a second value for --iface "wan1"');
    await rejects(['--tier', '2', ...LINK], '--tier #1: comes before any --iface');
    await rejects([...LINK, '--default-tier', 'x'], '--default-tier #1: "x" is not a tier');
    await rejects([...LINK, '--default-tier', '0'], '--default-tier #1: "0" is not a tier');
    await rejects([...LINK, '--default-tier', '10'], '--default-tier #1: "10" is not a tier');
    // all problems at once
    await rejects([...LINK, '--tier', '0', '--default-tier', '10', '--probe', '1.2.3', '--probe', '127.0.0.1'],
      '--tier #1: "0"', '--default-tier #1: "10"', '--probe #1: "1.2.3"', '--probe #2: "127.0.0.1"');
  });
});

describe('--probe with IPv6 addresses (the IPv6 sides of --gw6 links)', () => {
  it('defaults to the same operators\' IPv6 resolvers, in PROBES6 only with --gw6, and in the config file always', async () => {
    expect(DEFAULT_PROBES6).toEqual(['2606:4700:4700::1111', '2001:4860:4860::8888', '2620:fe::fe', '2620:119:35::35']);
    const six = await rendered(LINK6);
    expect(six.stderr).toBe('');
    expect(six.rules).toContain("\nPROBES='1.1.1.1 8.8.8.8 9.9.9.9 208.67.222.222'\t# ");
    expect(six.rules).toContain("\nPROBES6='2606:4700:4700::1111 2001:4860:4860::8888 2620:fe::fe 2620:119:35::35'\t# ");
    const four = await rendered(LINK);
    expect(four.rules).not.toMatch(/^PROBES6=/m);
    // so that a gw6 added to the saved file later is tracked too
    expect(four.conf).toContain('\nprobe 208.67.222.222\nprobe 2606:4700:4700::1111\nprobe 2001:4860:4860::8888\nprobe 2620:fe::fe\nprobe 2620:119:35::35\n');
    for (const doc of ['README.md', 'debian/linkbal-gen.1']) {
      for (const a of DEFAULT_PROBES6) expect(read(path.join(REPO, doc)), doc).toContain(a);
    }
  });

  it('sorts a list by family, in RFC 5952 form; the list replaces both defaults', async () => {
    const { rules, stderr } = await rendered([...LINK6, '--probe', '2001:DB8:FF:0::1', '--probe', '203.0.113.1', '--probe', '2001:db8:ff::2']);
    expect(stderr).toBe('');
    expect(rules).toContain("\nPROBES='203.0.113.1'\t");
    expect(rules).toContain("\nPROBES6='2001:db8:ff::1 2001:db8:ff::2'\t");
    // documentation and unique local addresses are targets a site may run
    expect((await rendered([...LINK6, '--probe', 'fd00::53', '--probe', '10.0.0.53'])).rules).toContain("\nPROBES6='fd00::53'\t");
  });

  it('warns (exit 0, files written) when a family is left without addresses', async () => {
    const v4 = await rendered([...LINK6, '--probe', '203.0.113.1']);
    expect(v4.stderr).toBe("linkbal-gen: warning: --probe: no IPv6 address to probe: the links' IPv6 sides (--gw6) are not tracked (taken as healthy)\n");
    expect(v4.rules).toContain("\nPROBES6=''\t");
    const v6 = await rendered([...LINK6, '--probe', '2001:db8:ff::1']);
    expect(v6.stderr).toBe("linkbal-gen: warning: --probe: no IPv4 address to probe: the links' IPv4 sides are not tracked (taken as healthy)\n");
    expect(v6.rules).toContain("\nPROBES=''\t");
    // without --gw6, IPv4 addresses alone are the whole story; none turns both off, quietly
    expect((await rendered([...LINK, '--probe', '203.0.113.1'])).stderr).toBe('');
    const none = await rendered([...LINK6, '--probe', 'none']);
    expect(none.stderr).toBe('');
    expect(none.rules).toContain("\nPROBES=''\t");
    expect(none.rules).toContain("\nPROBES6=''\t");
  });

  it('rejects what cannot be probed, each named with its flag and value, exit 2, nothing written', async () => {
    await rejects([...LINK6, '--probe', 'fe80::1'], '--probe #1: "fe80::1" is not a unicast address to probe (not ::, ::1, link-local fe80::/10');
    await rejects([...LINK6, '--probe', 'ff02::1'], '--probe #1: "ff02::1" is not a unicast address to probe');
    await rejects([...LINK6, '--probe', '::1'], '--probe #1: "::1" is not a unicast address to probe');
    await rejects([...LINK6, '--probe', '::'], '--probe #1: "::" is not a unicast address to probe');
    await rejects([...LINK6, '--probe', '::ffff:192.0.2.1'], '--probe #1: "::ffff:192.0.2.1" is not a unicast address to probe');
    await rejects([...LINK6, '--probe', '2001:db8::1%wan1'], '--probe #1: "2001:db8::1%wan1" is not an IPv4 or IPv6 address, or "none"');
    await rejects([...LINK6, '--probe', '2001:db8::/64'], '--probe #1: "2001:db8::/64" is not an IPv4 or IPv6 address');
    await rejects([...LINK6, '--probe', '2001:db8:::1'], '--probe #1: "2001:db8:::1" is not an IPv4 or IPv6 address');
    await rejects([...LINK6, '--probe', '2001:db8::1', '--probe', '2001:DB8:0::1'], '--probe #2: "2001:DB8:0::1" is given twice (also at --probe #1)');
    await rejects([...LINK6, '--probe', 'none', '--probe', '2001:db8::1'], '--probe #1: "none" (no health tracking) cannot go with');
  });

  it('round-trips through the config file', async () => {
    for (const args of [
      [...LINK6, '--probe', '203.0.113.1', '--probe', '2001:db8:ff::1', '--probe', '2001:db8:ff::2'],
      [...LINK6, '--probe', '2001:db8:ff::1'],
      [...LINK6, '--probe', '203.0.113.1'],
      [...LINK6],
      [...LINK6, '--probe', 'none'],
    ]) {
      await expectConfigRoundTrip(args);
    }
  });
});

describe('health tracking settings in the config file', () => {
  it('reads probe, tier and default-tier lines, and names file and line of a bad one', async () => {
    const dir = tmpdir();
    const conf = path.join(dir, 'site.conf');
    fs.writeFileSync(conf, 'iface eth1 gw 10.0.0.1 tier 2\ndefault-tier 3\nprobe 192.0.2.1 probe 192.0.2.2\n');
    const { rules } = await rendered(['--config', conf]);
    expect(rules).toContain("\nLINKS='\neth1 10.0.0.1 1 33554432 102 2\n'\n");
    expect(rules).toContain('\nDEFAULT_TIER=3\t');
    expect(rules).toContain("\nPROBES='192.0.2.1 192.0.2.2'\t");

    const bad = path.join(dir, 'bad.conf');
    fs.writeFileSync(bad, 'iface eth1 gw 10.0.0.1 tier 0\nprobe 1.2.3\ndefault-tier high\nprobe none\n');
    await rejects(['--config', bad], `${bad}:1: tier: "0" is not a tier`, `${bad}:2: probe: "1.2.3" is not an IPv4 or IPv6 address`,
      `${bad}:3: default-tier: "high" is not a tier`, `${bad}:4: probe: "none" (no health tracking) cannot go with`);
  });

  it('lets --probe on the command line replace the file\'s whole list, and flags override tiers', async () => {
    const dir = tmpdir();
    const conf = path.join(dir, 'site.conf');
    fs.writeFileSync(conf, 'iface eth1 gw 10.0.0.1 tier 2\ndefault-tier 3\nprobe none\n');
    const { rules } = await rendered(['--config', conf, '--probe', '192.0.2.9', '--default-tier', '1']);
    expect(rules).toContain("\nPROBES='192.0.2.9'\t");
    expect(rules).toContain('\nDEFAULT_TIER=1\t');
    fs.writeFileSync(conf, 'iface eth1 gw 10.0.0.1\nprobe 192.0.2.1\nprobe 192.0.2.2\n');
    expect((await rendered(['--config', conf, '--probe', 'none'])).rules).toContain("\nPROBES=''\t");
    expect((await rendered(['--config', conf, '--probe', '192.0.2.2'])).rules).toContain("\nPROBES='192.0.2.2'\t");
  });

  it('saves probes and tiers so that --config on the saved file gives the same files byte for byte', async () => {
    for (const args of [
      [...LINK, '--tier', '4', '--iface', 'wan2', '--gw', 'dhcp', '--default-tier', '2', '--probe', '203.0.113.1', '--probe', '198.51.100.2'],
      [...LINK],
      [...LINK, '--probe', 'none'],
    ]) {
      await expectConfigRoundTrip(args);
    }
  });
});
