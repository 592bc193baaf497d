// IPv6 in the generator: --gw6 belongs to the last --iface, IPv6 bypass networks, the
// settings the rules script gets, and bad IPv6 input refused (exit 2, nothing written).
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { HOWTO_ARGS, cli, expectConfigRoundTrip, read, rejects, tmpdir } from '../helpers.js';

const DUAL = ['--iface', 'wan1', '--gw', '10.1.1.1', '--gw6', '2001:DB8:1:0::1', '--weight', '2',
  '--iface', 'wan2', '--gw', 'dhcp', '--iface', 'wan3', '--gw', '10.3.3.1', '--gw6', 'auto',
  '--bypass-dst', '10.0.0.0/8', '--bypass-dst', '2001:db8:ff::/48', '--probe', 'none'];

async function render(args: string[]): Promise<string> {
  const root = tmpdir();
  const r = await cli([...args, '--root', root]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return root;
}

describe('IPv6 settings', () => {
  it('gives --gw6 to the --iface before it, in RFC 5952 form, and tells the rules script', async () => {
    const root = await render(DUAL);
    const conf = read(path.join(root, 'etc/linkbal/linkbal.conf'));
    expect(conf).toContain('iface wan1 gw 10.1.1.1 gw6 2001:db8:1::1 weight 2 tier 1\n' +
      'iface wan2 gw dhcp weight 1 tier 1\niface wan3 gw 10.3.3.1 gw6 auto weight 1 tier 1\n');
    expect(conf).toContain('bypass-dst 10.0.0.0/8\nbypass-dst 2001:db8:ff::/48\n');
    const rules = read(path.join(root, 'etc/linkbal/rules'));
    expect(rules).toContain("LINKS6='\nwan1 2001:db8:1::1\nwan3 auto\n'\n");
    expect(rules).toContain("BYPASS_DST6='2001:db8:ff::/48'");
    expect(rules).toContain("BYPASS_DST='10.0.0.0/8'");
  });

  it('prints no IPv6 settings without --gw6', async () => {
    const root = await render([...HOWTO_ARGS]);
    expect(read(path.join(root, 'etc/linkbal/rules'))).not.toMatch(/^(LINKS6|BYPASS_DST6)=/m);
    expect(read(path.join(root, 'etc/network/if-up.d/linkbal'))).not.toMatch(/up6|v6=/);
    expect(read(path.join(root, 'etc/linkbal/linkbal.conf'))).not.toContain('gw6');
  });

  it('reproduces the same files from the saved config', async () => {
    await expectConfigRoundTrip(DUAL);
  });

  it('accepts link-local next hops and a whole IPv6 bypass address', async () => {
    const root = await render(['--iface', 'wan1', '--gw', '10.1.1.1', '--gw6', 'FE80::0001',
      '--bypass-dst', '2001:db8::7', '--probe', 'none']);
    expect(read(path.join(root, 'etc/linkbal/rules'))).toContain("LINKS6='\nwan1 fe80::1\n'");
    expect(read(path.join(root, 'etc/linkbal/linkbal.conf'))).toContain('bypass-dst 2001:db8::7/128\n');
  });

  it('balances IPv6 with either backend: --backend iptables loads ip6tables too', async () => {
    const root = await render([...DUAL, '--backend', 'iptables']);
    const rules = read(path.join(root, 'etc/linkbal/rules'));
    expect(rules).toMatch(/^BACKEND='iptables'/m);
    expect(rules).toContain("LINKS6='\nwan1 2001:db8:1::1\nwan3 auto\n'\n");
    expect(rules).toContain('"ip${_f#4}tables-restore" -w --noflush');
  });

  it('refuses bad IPv6 input, naming the flag and value', async () => {
    const L = ['--iface', 'eth1', '--gw', '10.0.0.1'];
    await rejects([...L, '--gw6', '10.0.0.1'], '--gw6 #1: "10.0.0.1" is not an IPv6 address or "auto"');
    await rejects([...L, '--gw6', '2001:db8:::1'], '"2001:db8:::1" is not an IPv6 address');
    await rejects([...L, '--gw6', 'fe80::1%eth1'], '--gw6 #1: "fe80::1%eth1" has a zone');
    await rejects([...L, '--gw6', 'ff02::2'], '"ff02::2" is not a usable IPv6 gateway');
    await rejects([...L, '--gw6', '::1'], '"::1" is not a usable IPv6 gateway');
    await rejects([...L, '--gw6', '::'], '"::" is not a usable IPv6 gateway');
    await rejects([...L, '--gw6', '::ffff:10.0.0.1'], 'is not a usable IPv6 gateway');
    await rejects([...L, '--gw6', 'auto', '--gw6', 'fe80::1'], '--gw6 #2: "fe80::1" is a second value for --iface "eth1"');
    await rejects(['--gw6', 'auto', ...L], '--gw6 #1: comes before any --iface');
    const G = [...L, '--gw6', 'auto'];
    await rejects([...G, '--bypass-dst', '2001:db8::1/32'], '--bypass-dst #1: "2001:db8::1/32" has host bits set; the network is 2001:db8::/32');
    await rejects([...G, '--bypass-dst', '2001:db8::/129'], '"2001:db8::/129" is not an IPv6 address or prefix');
    await rejects([...G, '--bypass-dst', '2001:db8::/032'], 'is not an IPv6 address or prefix');
    await rejects([...G, '--bypass-dst', 'fe80::%eth1/64'], 'is not an IPv6 address or prefix');
    await rejects([...L, '--bypass-dst', '2001:db8::/32'],
      '--bypass-dst #1: "2001:db8::/32" is an IPv6 network, but no --iface has --gw6');
  });
});
