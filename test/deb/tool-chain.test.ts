// The used-by chain of the tool package with real apt and dpkg, in a throwaway sandbox
// (overlays over /etc, /usr, /var; own /run and network): install, the linkbal command,
// linkbal-gen writes the hooks; remove disables them (Policy 10.7.3: the hooks need the
// package's /usr/sbin/linkbal, not only its configuration) and a reinstall enables them;
// purge leaves nothing behind (no file, no rule) where linkbal could have written, while
// another package's dpkg hook writes files of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from './sandbox.js';
import { FOREIGN_HOOK, VERSION_JSON, buildToolDeb, difference } from './helpers.js';

const HOOKS = ['/etc/network/if-up.d/linkbal', '/etc/network/if-down.d/linkbal', '/etc/dhcp/dhclient-enter-hooks.d/linkbal', '/etc/linkbal/rules', '/etc/linkbal/linkbal.conf',
  '/etc/iproute2/rt_tables.d/linkbal.conf'];
// no --no-download: it refuses local .deb files. The sandbox has no network at all (its own
// network namespace, only lo), so apt resolving the Depends proves it needs no download.
const APT = 'apt-get -y -q -o Dpkg::Use-Pty=0';
// eth1, an uplink (a veth pair: this kernel has no dummy), and its if-up.d hook as ifupdown runs it
const ETH1 = 'ip link add eth1 type veth peer name eth1p && ip addr add 172.16.0.2/24 dev eth1 && ip link set eth1 up && ip link set eth1p up';
const IFUP = 'env -i IFACE=eth1 LOGICAL=eth1 ADDRFAM=inet METHOD=static MODE=start PHASE=post-up /etc/network/if-up.d/linkbal';

describe('linkbal (the tool package) with apt, in a sandbox', () => {
  let box: Sandbox | undefined;
  let deb = '';
  let before = new Set<string>();
  let rulesBefore = '';
  const sb = () => box as Sandbox;
  const rules = () => sb().ok('ip rule list; nft list ruleset');

  beforeAll(async () => {
    deb = buildToolDeb();
    box = await Sandbox.create();
    sb().ok(ETH1);
    sb().ok(FOREIGN_HOOK);
    before = sb().listing();
    rulesBefore = rules();
  }, 300_000);
  afterAll(async () => { await box?.destroy(); });

  it('installs offline with apt, puts linkbal-gen, linkbal and their man pages on the system', () => {
    sb().ok(`${APT} install ${deb}`);
    expect(sb().ok('dpkg-query -W -f \'${Version} ${db:Status-Status}\' linkbal')).toBe(`${VERSION_JSON.version} installed`);
    expect(sb().ok('command -v linkbal-gen').trim()).toBe('/usr/bin/linkbal-gen');
    expect(sb().ok('linkbal-gen --version').trim()).toBe(VERSION_JSON.version);
    expect(sb().ok('man -w linkbal-gen').trim()).toBe('/usr/share/man/man1/linkbal-gen.1.gz');
    // the linkbal command: an alternative, as linkbal-site ships it too
    expect(sb().ok('command -v linkbal').trim()).toBe('/usr/sbin/linkbal');
    expect(sb().ok('readlink -f /usr/sbin/linkbal').trim()).toBe('/usr/share/linkbal/linkbal');
    expect(sb().ok('readlink -f /usr/share/man/man8/linkbal.8.gz').trim()).toBe('/usr/share/linkbal/linkbal.8.gz');
    expect(sb().ok('man -w linkbal').trim()).toBe('/usr/share/linkbal/linkbal.8.gz'); // man follows the link
    // -l: man's cat page cache, /var/cache/man/cat8/linkbal.8.gz, is not the package's to leave behind
    expect(sb().ok('MANWIDTH=80 man -l "$(man -w linkbal)" 2>&1')).toMatch(/^LINKBAL\(8\) .*\n[^]*linkbal status --json/);
    // the package owns nothing under /etc
    expect(sb().ok('dpkg-query -L linkbal')).not.toMatch(/^\/etc/m);
    // before linkbal-gen ran: a clear word, exit 6
    const r = sb().run('linkbal status');
    expect(r.status).toBe(6);
    expect(r.stderr).toContain('linkbal: /etc/linkbal/rules is missing: nothing to status. Render it first (linkbal-gen');
  });

  it('linkbal-gen writes the hooks and rules under /etc and says what to run next; the hook takes eth1 in', () => {
    const out = sb().ok('linkbal-gen --iface eth1 --gw 172.16.0.1 --probe none');
    for (const f of HOOKS) expect(out).toContain(`wrote ${f}`);
    expect(out).toContain('/etc/linkbal/rules restart');
    sb().ok(IFUP);
    expect(rules()).toMatch(/table inet linkbal/);
    expect(rules()).toMatch(/lookup linkbal-eth1/);
    const json = JSON.parse(sb().ok('linkbal status --json')) as { loaded: boolean; links: { name: string; state: string }[] };
    expect(json.loaded).toBe(true);
    expect(json.links.map((l) => `${l.name} ${l.state}`)).toEqual(['default up', 'eth1 up']);
  });

  it('apt remove disables linkbal: the rules go, the files stay, and the hook does nothing', () => {
    sb().ok(`${APT} remove linkbal`);
    expect(sb().run('command -v linkbal-gen').status).not.toBe(0);
    expect(sb().run('command -v linkbal').status).not.toBe(0);
    for (const f of HOOKS) expect(sb().run(`test -f ${f}`).status, f).toBe(0);
    expect(rules()).toBe(rulesBefore);
    sb().ok(IFUP);
    expect(rules()).toBe(rulesBefore);
  });

  it('installed again, the hook takes eth1 in again', () => {
    sb().ok(`${APT} install ${deb}`);
    sb().ok(IFUP);
    expect(rules()).toMatch(/lookup linkbal-eth1/);
    expect(sb().ok('linkbal status')).toMatch(/^eth1\s+up/m);
  });

  it('apt purge stops the rules and leaves nothing behind where linkbal writes, whatever other dpkg hooks wrote', () => {
    sb().ok(`${APT} purge linkbal`);
    expect(sb().ok('dpkg-query -W -f \'${db:Status-Status}\' linkbal 2>/dev/null || echo gone').trim()).toMatch(/^(not-installed|gone)$/);
    expect(rules()).toBe(rulesBefore);
    const after = sb().listing();
    expect([...after].filter((l) => l.includes('linkbal'))).toEqual([]);
    expect(difference(before, after)).toEqual({ added: [], removed: [] });
    // the foreign hook did write: a whole-filesystem comparison would have failed here
    const foreign = [...after].filter((l) => !before.has(l)).map((l) => l.split(' ')[2]);
    expect(foreign).toEqual(expect.arrayContaining(['/var/cache/foo', '/etc/foo.d/stamp']));
  });
});
