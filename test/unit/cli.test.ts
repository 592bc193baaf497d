// The CLI in-process: flags, the config file, bad input (exit 2, named, nothing written),
// dry runs, and hostile input as properties.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import fs from 'fs-extra';
import path from 'node:path';
import { HOWTO_ARGS, REPO, cli, expectConfigRoundTrip, listing, read, rejects, sh, tmpdir } from '../helpers.js';
import { VERSION } from '../../src/version.js';

describe('linkbal-gen command line', () => {
  it('writes the hooks, the rules and the config it used, and says what to run next', async () => {
    const root = tmpdir();
    const r = await cli([...HOWTO_ARGS, '--root', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${root}/etc/network/if-up.d/linkbal`);
    expect(r.stdout).toContain('/etc/linkbal/rules restart');
    expect(listing(root)).toEqual(expect.arrayContaining([
      'etc/network/if-up.d/linkbal', 'etc/network/if-down.d/linkbal', 'etc/linkbal/rules', 'etc/linkbal/learner', 'etc/linkbal/tracker', 'etc/linkbal/guard', 'etc/linkbal/linkbal.conf',
    ]));
    const again = await cli([...HOWTO_ARGS, '--root', root]);
    expect(again.stdout).toContain(`unchanged ${root}/etc/linkbal/rules`);
  });

  it('gives --gw, --weight and --tier to the --iface before them', async () => {
    const root = tmpdir();
    await cli(['--iface', 'a', '--weight', '3', '--tier', '2', '--gw', '10.0.0.1', '--iface', 'b', '--gw', 'dhcp', '--root', root]);
    const conf = read(path.join(root, 'etc/linkbal/linkbal.conf'));
    expect(conf).toContain('iface a gw 10.0.0.1 weight 3 tier 2\niface b gw dhcp weight 1 tier 1\n');
  });

  it('reproduces the same files byte for byte from the saved config', async () => {
    for (const args of [
      ['--iface', 'wan1', '--gw', 'dhcp', '--weight', '7', '--tier', '2', '--mode', 'random', '--lan', 'lan0',
        '--default-weight', '0', '--default-tier', '3', '--bypass-port', 'udp/53', '--flush-on-down',
        '--probe', '192.0.2.1', '--probe', '198.51.100.7'],
      [...HOWTO_ARGS], // the default probes and tiers
      ['--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', 'dhcp', '--tier', '9', '--probe', 'none'],
    ]) {
      await expectConfigRoundTrip(args);
    }
  });

  it('lets flags override the config file, a list replacing the whole list', async () => {
    const dir = tmpdir();
    const conf = path.join(dir, 'my.conf');
    fs.writeFileSync(conf, '# two uplinks\niface eth1 gw 10.0.0.1 weight 2\niface eth2 gw dhcp\nmode random\n');
    const root = tmpdir();
    expect((await cli(['--config', conf, '--mode', 'hash', '--root', root])).code).toBe(0);
    const saved = read(path.join(root, 'etc/linkbal/linkbal.conf'));
    expect(saved).toContain('mode hash\n');
    expect(saved).toContain('iface eth1 gw 10.0.0.1 weight 2 tier 1\niface eth2 gw dhcp weight 1 tier 1\n');
    await cli(['--config', conf, '--iface', 'ppp0', '--gw', '10.64.64.64', '--root', root]);
    expect(read(path.join(root, 'etc/linkbal/linkbal.conf'))).not.toContain('eth1');
  });

  it('names the file and line of a bad config value', async () => {
    const dir = tmpdir();
    const conf = path.join(dir, 'bad.conf');
    fs.writeFileSync(conf, 'iface eth1 gw 10.0.0.1\nweight eleven\nspeed fast\nmode\n');
    await rejects(['--config', conf], `${conf}:2: weight: "eleven" is not a weight`,
      `${conf}:3: unknown setting "speed"`, `${conf}:4: "mode" has no value`);
  });

  it('rejects bad input with every problem named, exit 2, nothing written', async () => {
    await rejects(['--iface', 'eth1', '--gw', '300.1.1.1'], '--gw #1: "300.1.1.1" is not an IPv4 address');
    await rejects(['--iface', 'eth1', '--gw', '010.1.1.1'], '"010.1.1.1" is not an IPv4 address');
    await rejects(['--iface', 'eth1', '--gw', '127.0.0.1'], 'is not a usable gateway');
    await rejects(['--iface', 'eth1'], '"eth1" has no --gw');
    await rejects(['--gw', '10.0.0.1', '--iface', 'eth1', '--gw', '10.0.0.2'], '--gw #1: comes before any --iface');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--gw', '10.0.0.2'], '--gw #2: "10.0.0.2" is a second value');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--weight', '0'], '--weight #1: "0" is not a weight');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--weight', '1001'], '"1001" is not a weight');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--default-weight', '-1'], '--default-weight');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--iface', 'eth1', '--gw', '10.0.0.2'],
      '--iface #2: "eth1" is given twice (also at --iface #1)');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--lan', 'eth1'], '--lan #1: "eth1" is given twice');
    await rejects(['--iface', 'a234567890123456', '--gw', '10.0.0.1'], 'is not an interface name');
    await rejects(['--iface', 'lo', '--gw', '10.0.0.1'], '"lo" is reserved');
    await rejects(['--iface', 'all', '--gw', '10.0.0.1'], '"all" is reserved');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--mode', 'rr'], '--mode #1: "rr" is not a mode');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--backend', 'pf'], '"pf" is not a backend');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--bypass-dst', '10.1.2.3/8'], 'has host bits set; the network is 10.0.0.0/8');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--bypass-dst', '10.0.0.0/33'], 'is not an IPv4 address or CIDR');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--bypass-port', 'tcp/0'], 'has "0", not a port');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--bypass-port', 'tcp/70000'], 'has "70000"');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--bypass-port', 'tcp/90-80'], 'has "90-80"');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--bypass-port', 'icmp/1'], 'is not PROTO/PORTS');
    await rejects([], 'at least one uplink');
    const noRoot = await cli(['--iface', 'eth1', '--gw', '10.0.0.1', '--root', '/nonexistent/x']);
    expect(noRoot.code).toBe(2);
    expect(noRoot.stderr).toContain('--root: "/nonexistent/x" is not a directory');
    await rejects(['--iface', 'eth1', '--gw', '10.0.0.1', '--config', '/nonexistent.conf'], '--config: "/nonexistent.conf" cannot be read');
    // all problems at once
    await rejects(['--iface', 'e;x', '--gw', 'x', '--mode', 'y'], '"e;x" is not an interface', '"x" is not an IPv4', '"y" is not a mode');
  });

  it('exits 2 on unknown options and missing values, 0 on --help and --version', async () => {
    expect((await cli(['--iface'])).code).toBe(2);
    expect((await cli(['--frobnicate'])).code).toBe(2);
    expect((await cli(['--iface', 'eth1', '--gw', '10.0.0.1', 'extra'])).code).toBe(2);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--iface', '--gw', '--weight', '--tier', '--default-weight', '--default-tier', '--mode', '--backend',
      '--bypass-dst', '--bypass-port', '--lan', '--probe', '--root', '--dry-run', '--config', '--flush-on-down',
      '--mark-mask', '--pref', '--table-base']) {
      expect(help.stdout).toContain(flag);
    }
    expect((await cli(['--version'])).stdout.trim()).toBe(VERSION);
    expect(JSON.parse(read(path.join(REPO, 'package.json'))).version).toBe(VERSION);
  });

  it('--dry-run shows new files whole and changes as a diff, and writes nothing', async () => {
    const root = tmpdir();
    const r = await cli([...HOWTO_ARGS, '--dry-run', '--root', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`would write ${root}/etc/linkbal/rules (mode 755):\n#!/bin/sh`);
    expect(listing(root)).toEqual([]);
    await cli([...HOWTO_ARGS, '--root', root]);
    const before = read(path.join(root, 'etc/linkbal/rules'));
    const d = await cli([...HOWTO_ARGS, '--weight', '5', '--dry-run', '--root', root]);
    expect(d.stdout).toContain(`unchanged ${root}/etc/network/if-up.d/linkbal`);
    expect(d.stdout).toMatch(/^-rausb0 192\.168\.0\.1 1 50331648 103 1$/m);
    expect(d.stdout).toMatch(/^\+rausb0 192\.168\.0\.1 5 50331648 103 1$/m);
    expect(read(path.join(root, 'etc/linkbal/rules'))).toBe(before);
  });
});

// Hostile input: whatever is accepted renders scripts that sh and shellcheck accept and that
// hold no byte the validators did not allow; whatever is rejected exits 2 and writes nothing.
describe('hostile input', () => {
  const nasty = fc.oneof(
    fc.constantFrom('eth1;reboot', "e'th", 'e"th', 'e$(id)', 'e`id`', 'eth\n1', 'eth\u00001', 'еth1', 'eth1 ',
      '-eth1', '--gw', '*', 'a/b', 'a:b', '..', '.x', '99999999999999999999', '1e3', '0x10', ' 1', '+1',
      '10.0.0.1\n', '10.0.0.1;', '1.2.3.4/24', 'tcp/22;id', 'tcp/22,', 'tcp/-1', 'udp/1-', '١٢٣', 'none', 'None', '09'),
    fc.string({ maxLength: 20 }),
    fc.constantFrom('eth1', 'wan-2', 'eth0.100', '10.0.0.1', 'dhcp', '3', '1000', 'tcp/80', '10.0.0.0/8', 'nth',
      '192.0.2.1', '9'),
  );
  const flag = fc.constantFrom('--iface', '--gw', '--weight', '--tier', '--default-weight', '--default-tier', '--mode',
    '--backend', '--bypass-dst', '--bypass-port', '--lan', '--probe', '--mark-mask', '--pref', '--table-base');

  it('either renders clean scripts or exits 2 having written nothing', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(flag, nasty), { maxLength: 6 }), async (pairs) => {
      const root = tmpdir();
      const args = ['--iface', 'eth9', '--gw', '10.9.9.1', ...pairs.flat(), '--root', root];
      const r = await cli(args);
      if (r.code !== 0) {
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/^linkbal-gen: /);
        expect(listing(root)).toEqual([]);
        return;
      }
      for (const f of ['etc/linkbal/rules', 'etc/network/if-up.d/linkbal', 'etc/network/if-down.d/linkbal']) {
        const p = path.join(root, f);
        // printable ASCII, tabs and newlines only
        expect(read(p)).toMatch(/^[\x20-\x7e\t\n]*$/);
        expect(sh(`sh -n '${p}'`).status).toBe(0);
      }
      const sc = sh(`shellcheck -s sh '${path.join(root, 'etc/linkbal/rules')}'`);
      expect(sc.stdout).toBe('');
    }), { numRuns: 60 });
  });
});

describe('hostile config files', () => {
  const token = fc.oneof(
    fc.constantFrom('iface', 'gw', 'weight', 'mode', 'lan', 'bypass-dst', 'bypass-port', 'backend', 'default-weight',
      'flush-on-down', 'tier', 'default-tier', 'probe', 'mark-mask', 'pref', 'table-base', '0xff', '0x3f000000', 'none', 'eth1', '10.0.0.1', 'dhcp', 'yes', '2', 'tcp/22', '#', "'", '"', ';', '$(reboot)', '\\', '\u0000',
      '\u00a0', 'еth0', '-', '--iface'),
    fc.string({ maxLength: 8 }),
  );
  const line = fc.array(token, { maxLength: 6 }).map((ts) => ts.join(' '));

  it('either renders clean scripts or exits 2 naming file and line, having written nothing', async () => {
    await fc.assert(fc.asyncProperty(fc.array(line, { maxLength: 6 }), async (lines) => {
      const dir = tmpdir();
      const conf = path.join(dir, 'linkbal.conf');
      fs.writeFileSync(conf, ['iface eth9 gw 10.9.9.1', ...lines].join('\n'));
      const root = tmpdir();
      const r = await cli(['--config', conf, '--root', root]);
      if (r.code !== 0) {
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`^linkbal-gen: (${conf}:\\d+|--iface)`, 'm'));
        expect(listing(root)).toEqual([]);
        return;
      }
      const rules = path.join(root, 'etc/linkbal/rules');
      expect(read(rules)).toMatch(/^[\x20-\x7e\t\n]*$/);
      expect(sh(`sh -n '${rules}' && shellcheck -s sh '${rules}'`).status).toBe(0);
    }), { numRuns: 60 });
  });
});

describe('--weight auto', () => {
  it('learns every link\'s weight, and refuses fixed weights beside it', async () => {
    const root = tmpdir();
    const r = await cli(['--iface', 'a', '--gw', '10.0.0.1', '--weight', 'auto', '--iface', 'b', '--gw', 'dhcp', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(path.join(root, 'etc/linkbal/rules'))).toMatch(/^AUTO=1\t/m);
    expect(read(path.join(root, 'etc/linkbal/linkbal.conf')))
      .toContain('iface a gw 10.0.0.1 weight auto tier 1\niface b gw dhcp weight auto tier 1\n');
    await rejects(['--iface', 'a', '--gw', '10.0.0.1', '--weight', 'auto', '--iface', 'b', '--gw', 'dhcp', '--weight', '3'],
      '--weight #2: "3" is a fixed weight, but another link has --weight auto');
    await rejects(['--iface', 'a', '--gw', '10.0.0.1', '--weight', 'Auto'], '"Auto" is not a weight (an integer 1-1000, or auto)');
  });
});

// Sharing the kernel with other tools (issue 15): the mark bits, the first ip rule priority
// and the routing tables linkbal uses.
describe('--mark-mask, --pref, --table-base', () => {
  const TWO = ['--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', 'dhcp'];
  const rendered = async (args: string[]) => {
    const root = tmpdir();
    const r = await cli([...args, '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    return { rules: read(path.join(root, 'etc/linkbal/rules')), conf: read(path.join(root, 'etc/linkbal/linkbal.conf')),
      tables: read(path.join(root, 'etc/iproute2/rt_tables.d/linkbal.conf')), root };
  };

  it('default to bits 24-29, priority 1000 and tables 100 + link number, and name the tables', async () => {
    const { rules, conf, tables, root } = await rendered(TWO);
    expect(rules).toMatch(/^MARK_MASK=0x3f000000\t# /m);
    expect(rules).toMatch(/^PREF=1000\t# /m);
    // link K (2, 3) has mark K << 24 and table 100 + K
    expect(rules).toContain("\nLINKS='\nwan1 10.1.1.1 1 33554432 102 1\nwan2 dhcp 1 50331648 103 1\n'\n");
    expect(conf).toContain('\nmark-mask 0x3f000000\npref 1000\ntable-base 100\n');
    expect(tables).toMatch(/^#[^\n]*\n102 linkbal-wan1\n103 linkbal-wan2\n$/);
    expect(sh(`stat -c %a '${path.join(root, 'etc/iproute2/rt_tables.d/linkbal.conf')}'`).stdout.trim()).toBe('644');
  });

  it('take hex or decimal masks, a priority and a table base, from flags and the config file', async () => {
    const { rules, conf, tables } = await rendered([...TWO, '--mark-mask', '0xF0', '--pref', '2000', '--table-base', '200']);
    expect(rules).toMatch(/^MARK_MASK=0xf0\t/m);
    expect(rules).toMatch(/^PREF=2000\t/m);
    expect(rules).toContain("\nLINKS='\nwan1 10.1.1.1 1 32 202 1\nwan2 dhcp 1 48 203 1\n'\n");
    expect(conf).toContain('\nmark-mask 0xf0\npref 2000\ntable-base 200\n');
    expect(tables).toContain('\n202 linkbal-wan1\n203 linkbal-wan2\n');
    // decimal, the lowest bits, the highest bit
    expect((await rendered([...TWO, '--mark-mask', '7'])).rules).toMatch(/^MARK_MASK=0x7\t[^]*\nwan2 dhcp 1 3 103 1\n/m);
    expect((await rendered([...TWO, '--mark-mask', '0xc0000000'])).rules).toContain('\nwan2 dhcp 1 3221225472 103 1\n');
    expect((await rendered([...TWO, '--mark-mask', '0xffffffff'])).rules).toContain('\nwan1 10.1.1.1 1 2 102 1\n');
    for (const args of [[...TWO, '--mark-mask', '0x3c', '--pref', '32762', '--table-base', '0'],
      [...TWO, '--mark-mask', '4294967295', '--pref', '1', '--table-base', String(2 ** 31 - 4)]]) {
      await expectConfigRoundTrip(args);
    }
  });

  it('reject bad values, naming the flag and value: exit 2, nothing written', async () => {
    await rejects([...TWO, '--mark-mask', '0'], '--mark-mask #1: "0" is not a mark mask');
    await rejects([...TWO, '--mark-mask', '0x100000000'], '"0x100000000" is not a mark mask');
    await rejects([...TWO, '--mark-mask', '4294967296'], '"4294967296" is not a mark mask');
    await rejects([...TWO, '--mark-mask', 'ff'], '"ff" is not a mark mask');
    await rejects([...TWO, '--mark-mask', '-1'], '"-1" is not a mark mask');
    await rejects([...TWO, '--mark-mask', '0xf0f0'], '--mark-mask #1: "0xf0f0" is not one run of set bits');
    // 0x3 holds link numbers 1-3: the default link and two uplinks fit, three do not
    await rejects([...TWO, '--iface', 'wan3', '--gw', 'dhcp', '--mark-mask', '0x3'],
      '--mark-mask #1: "0x3" holds link numbers up to 3; the default link and 3 uplink(s) need 1-4');
    expect((await cli([...TWO, '--mark-mask', '0x3', '--root', tmpdir()])).code).toBe(0);
    await rejects([...TWO, '--pref', '0'], '--pref #1: "0" is not an ip rule priority (an integer 1-32765)');
    await rejects([...TWO, '--pref', '32766'], '"32766" is not an ip rule priority');
    await rejects([...TWO, '--pref', '1e3'], '"1e3" is not an ip rule priority');
    await rejects([...TWO, '--pref', '32763'], '--pref #1: "32763" leaves no room: linkbal would use priorities 32763-32766');
    await rejects([...TWO, '--table-base', '-1'], '--table-base #1: "-1" is not a routing table base');
    await rejects([...TWO, '--table-base', '2147483648'], '"2147483648" is not a routing table base');
    await rejects([...TWO, '--table-base', '2147483645'], '"2147483645" leaves no room: linkbal would use routing tables up to 2147483648');
    await rejects([...TWO, '--table-base', '250'], '--table-base #1: "250" gives the uplinks routing tables 252-253, which include 253');
    await rejects([...TWO, '--table-base', '252'], 'which include 254, 255');
    // from the config file: file and line
    const dir = tmpdir();
    const conf = path.join(dir, 'bad.conf');
    fs.writeFileSync(conf, 'iface eth1 gw 10.0.0.1\nmark-mask 0x5\npref x\n');
    await rejects(['--config', conf], `${conf}:2: mark-mask: "0x5" is not one run of set bits`, `${conf}:3: pref: "x" is not an ip rule priority`);
  });
});

describe('--backend', () => {
  it('defaults to what the machine has (nftables where nft is installed), and --backend overrides; the mode to least with nftables, nth with iptables', async () => {
    for (const [has, mode] of [['iptables', 'nth'], ['nftables', 'least']] as const) {
      const root = tmpdir();
      expect((await cli(['--iface', 'a', '--gw', '10.0.0.1', '--root', root], has)).code).toBe(0);
      expect(read(path.join(root, 'etc/linkbal/rules'))).toContain(`BACKEND='${has}'`);
      expect(read(path.join(root, 'etc/linkbal/rules'))).toContain(`MODE='${mode}'`);
      expect(read(path.join(root, 'etc/linkbal/linkbal.conf'))).toContain(`backend ${has}\nmode ${mode}\n`);
    }
    const root = tmpdir();
    await cli(['--iface', 'a', '--gw', '10.0.0.1', '--backend', 'iptables', '--root', root], 'nftables');
    expect(read(path.join(root, 'etc/linkbal/rules'))).toContain("BACKEND='iptables'");
  });

  it('refuses --mode least without nftables, named (exit 2, nothing written)', async () => {
    await rejects(['--iface', 'a', '--gw', '10.0.0.1', '--mode', 'least', '--backend', 'iptables'],
      '--mode #1: "least" needs the nftables backend (--backend #1: "iptables")');
    const root = tmpdir();
    const r = await cli(['--iface', 'a', '--gw', '10.0.0.1', '--mode', 'least', '--root', root], 'iptables');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--mode #1: "least" needs the nftables backend (nft is not installed)');
    expect(listing(root)).toEqual([]);
    expect((await cli(['--iface', 'a', '--gw', '10.0.0.1', '--mode', 'least', '--root', root], 'nftables')).code).toBe(0);
    expect(read(path.join(root, 'etc/linkbal/rules'))).toContain("MODE='least'");
  });
});

describe('writing', () => {
  it('writes nothing when one file cannot be written: temporary files first, then the renames', async () => {
    const root = tmpdir();
    fs.mkdirpSync(path.join(root, 'etc/network/if-up.d'));
    fs.writeFileSync(path.join(root, 'etc/network/if-up.d/linkbal'), 'old hook\n');
    fs.writeFileSync(path.join(root, 'etc/linkbal'), 'a file where a directory must go\n');
    const r = await cli([...HOWTO_ARGS, '--root', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nothing written/);
    expect(read(path.join(root, 'etc/network/if-up.d/linkbal'))).toBe('old hook\n');
    expect(listing(root).sort()).toEqual(['etc', 'etc/linkbal', 'etc/network', 'etc/network/if-up.d', 'etc/network/if-up.d/linkbal']);
  });
});

describe('--deb', () => {
  it('refuses control characters in DEBFULLNAME and DEBEMAIL: exit 2, named with the value, nothing written', async () => {
    const dir = tmpdir();
    const deb = path.join(dir, 'site.deb');
    const args = ['--iface', 'eth1', '--gw', '172.16.0.1', '--probe', 'none', '--deb', deb];
    const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000', DEBFULLNAME: 'Router Admin', DEBEMAIL: 'admin@example.net' };
    const cases: [string, string, string][] = [
      ['DEBFULLNAME', 'Router\nAdmin', '"Router\\u000aAdmin"'],
      ['DEBFULLNAME', 'Router Admin\r', '"Router Admin\\u000d"'],
      ['DEBFULLNAME', 'Router\tAdmin', '"Router\\u0009Admin"'],
      ['DEBEMAIL', 'admin@example.net\u001b[2J', '"admin@example.net\\u001b[2J"'],
      ['DEBEMAIL', 'admin@exa\u0085mple.net', '"admin@exa\\u0085mple.net"'],
      ['DEBEMAIL', 'admin@example.net\u0000', '"admin@example.net\\u0000"'],
    ];
    for (const [name, value, shown] of cases) {
      const r = await cli(args, 'nftables', { ...env, [name]: value });
      expect(r.code, shown).toBe(2);
      expect(r.stderr).toContain(`linkbal-gen: ${name}: ${shown} contains a control character`);
      expect(r.stderr).toContain('nothing written');
      expect(listing(dir), shown).toEqual([]);
    }
    // both at once: both named
    const both = await cli(args, 'nftables', { ...env, DEBFULLNAME: 'A\u0007', DEBEMAIL: 'b@c\u007f' });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('DEBFULLNAME: "A\\u0007"');
    expect(both.stderr).toContain('DEBEMAIL: "b@c\\u007f"');
    // without --deb they are not used, and not checked
    const root = tmpdir();
    expect((await cli(['--iface', 'eth1', '--gw', '172.16.0.1', '--root', root], 'nftables', { ...env, DEBFULLNAME: 'A\n' })).code).toBe(0);
    // clean ones make the Maintainer field
    const ok = await cli(args, 'nftables', env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(sh(`dpkg-deb -f '${deb}' Maintainer`).stdout).toBe('Router Admin <admin@example.net>\n');
  });
});
