// The site package with real apt and dpkg, in a throwaway sandbox: install (postinst applies
// the rules, the linkbal command is there), an admin edits a conffile, a second site package
// with other links upgrades it non-interactively keeping the edit and the rules running
// throughout; a failed upgrade and dpkg's abort paths leave them running; remove (not
// purge) disables linkbal, a reinstall enables it; purge takes the rules and every file
// away (where linkbal could have written: another package's dpkg hook writes elsewhere).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Sandbox } from './sandbox.js';
import { FOREIGN_HOOK, buildSiteDeb, buildToolDeb, difference, sh } from './helpers.js';
import { tmpdir } from '../helpers.js';

const APT = 'apt-get -y -q -o Dpkg::Use-Pty=0'; // the sandbox has no network: nothing can be downloaded
const FILES = ['/etc/network/if-up.d/linkbal', '/etc/network/if-down.d/linkbal', '/etc/dhcp/dhclient-enter-hooks.d/linkbal', '/etc/linkbal/rules', '/etc/linkbal/learner',
  '/etc/linkbal/tracker', '/etc/linkbal/guard', '/etc/linkbal/linkbal.conf', '/etc/iproute2/rt_tables.d/linkbal.conf'];
const EDIT = '# admin: eth1 is the fibre line';
// eth1, an uplink (a veth pair: this kernel has no dummy), and its if-up.d hook as ifupdown runs it
const ETH1 = 'ip link add eth1 type veth peer name eth1p && ip addr add 172.16.0.2/24 dev eth1 && ip link set eth1 up && ip link set eth1p up';
const IFUP = 'env -i IFACE=eth1 LOGICAL=eth1 ADDRFAM=inet METHOD=static MODE=start PHASE=post-up /etc/network/if-up.d/linkbal';
const SAW = '/var/tmp/preinst-saw'; // not a path of linkbal's: the purge test ignores it
const INFO = '/var/lib/dpkg/info/linkbal-site';

/** DEB repacked with its preinst run after SCRIPT, and another version if given. */
function repack(deb: string, out: string, script: string, version?: string): void {
  const dir = tmpdir('linkbal-repack-');
  sh('dpkg-deb', ['-R', deb, dir]);
  const preinst = path.join(dir, 'DEBIAN/preinst');
  writeFileSync(preinst, readFileSync(preinst, 'utf8').replace(/^#!\/bin\/sh\n/, `#!/bin/sh\n${script}\n`));
  if (version) {
    const control = path.join(dir, 'DEBIAN/control');
    writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${version}`));
  }
  const r = sh('dpkg-deb', ['--root-owner-group', '--build', dir, out]);
  if (r.status !== 0) throw new Error(r.stderr);
}

describe('linkbal-site with apt, in a sandbox', () => {
  let box: Sandbox | undefined;
  const sb = () => box as Sandbox;
  const dir = tmpdir('linkbal-site-');
  const first = path.join(dir, 'first.deb');
  const second = path.join(dir, 'second.deb');
  const broken = path.join(dir, 'broken.deb');
  let before = new Set<string>();
  let rulesBefore = '';
  const rules = () => sb().ok('ip rule list; nft list ruleset');
  /** linkbal's rules are loaded, eth1 taken in */
  const running = () => {
    const r = rules();
    expect(r).toMatch(/table inet linkbal/);
    expect(r).toMatch(/lookup linkbal-eth1/);
  };

  beforeAll(async () => {
    buildSiteDeb(first, 1_764_000_000, ['--iface', 'eth1', '--gw', '172.16.0.1', '--backend', 'nftables', '--probe', 'none']);
    buildSiteDeb(path.join(dir, 'plain-second.deb'), 1_764_086_400, ['--iface', 'eth1', '--gw', '172.16.0.1', '--weight', '3',
      '--iface', 'eth2', '--gw', '192.168.7.1', '--backend', 'nftables', '--probe', 'none']);
    // the second records what the kernel holds when its preinst runs, after the old prerm
    repack(path.join(dir, 'plain-second.deb'), second, `{ ip rule list; nft list tables; } >${SAW} 2>&1`);
    // a third whose preinst fails: dpkg calls the old postinst with abort-upgrade
    repack(path.join(dir, 'plain-second.deb'), broken, 'echo "preinst fails" >&2; exit 1', '20251126160000+0.1.0');
    box = await Sandbox.create();
    sb().ok(ETH1);
    sb().ok(FOREIGN_HOOK);
    before = sb().listing();
    rulesBefore = rules();
  }, 300_000);
  afterAll(async () => { await box?.destroy(); });

  it('installs without Node.js dependencies, as conffiles, with the linkbal command, and applies the rules', () => {
    const out = sb().ok(`${APT} install ${first}`);
    expect(out).not.toMatch(/nodejs/);
    expect(sb().ok('dpkg-query -W -f \'${Version}\' linkbal-site')).toBe('20251124160000+0.1.0');
    expect(sb().ok('dpkg-query -W -f \'${Conffiles}\' linkbal-site').split('\n').map((l) => l.trim().split(' ')[0]).filter(Boolean).sort())
      .toEqual([...FILES].sort());
    running();
    expect(sb().ok('readlink -f /usr/sbin/linkbal').trim()).toBe('/usr/share/linkbal-site/linkbal');
    expect(sb().ok('readlink -f /usr/share/man/man8/linkbal.8.gz').trim()).toBe('/usr/share/linkbal-site/linkbal.8.gz');
    const json = JSON.parse(sb().ok('linkbal status --json')) as { started: boolean; loaded: boolean; links: { name: string; state: string }[] };
    expect(json).toMatchObject({ started: true, loaded: true });
    expect(json.links.map((l) => `${l.name} ${l.state}`)).toEqual(['default up', 'eth1 up']);
  });

  it('upgrades to the next site package, keeping an edited conffile and the rules running throughout', () => {
    sb().ok(`printf '%s\\n' '${EDIT}' >>/etc/linkbal/linkbal.conf`);
    const out = sb().ok(`${APT} -o Dpkg::Options::=--force-confold install ${second}`);
    expect(out).toMatch(/Unpacking linkbal-site \(20251125160000\+0\.1\.0\) over \(20251124160000\+0\.1\.0\)/);
    // the old prerm (upgrade) left them: the new preinst saw them, as the unpack did
    const saw = sb().ok(`cat ${SAW}`);
    expect(saw).toMatch(/table inet linkbal/);
    expect(saw).toMatch(/lookup linkbal-eth1/);
    expect(sb().ok('dpkg-query -W -f \'${Version}\' linkbal-site')).toBe('20251125160000+0.1.0');
    const conf = sb().ok('cat /etc/linkbal/linkbal.conf');
    expect(conf).toContain(EDIT);
    expect(conf).not.toContain('eth2');
    expect(sb().ok('cat /etc/linkbal/linkbal.conf.dpkg-dist')).toContain('iface eth2 gw 192.168.7.1 weight 1');
    expect(sb().ok('cat /etc/linkbal/rules')).toMatch(/eth1 172\.16\.0\.1 3 .*\neth2 192\.168\.7\.1 1 /);
    running();
    expect(sb().ok('/etc/linkbal/rules status')).toMatch(/^eth1\s+up\s+172\.16\.0\.1\s+3 /m);
  });

  it('a failed upgrade (its preinst fails) leaves the installed package, its command and its rules running', () => {
    const r = sb().run(`${APT} install ${broken}`);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('preinst fails');
    expect(sb().ok('dpkg-query -W -f \'${Version} ${db:Status-Status}\' linkbal-site')).toBe('20251125160000+0.1.0 installed');
    running();
    expect(sb().ok('readlink -f /usr/sbin/linkbal').trim()).toBe('/usr/share/linkbal-site/linkbal');
  });

  it('the maintainer scripts as dpkg calls them: prerm upgrade keeps the rules, the abort paths restore what prerm took', () => {
    const loaded = rules();
    sb().ok(`${INFO}.prerm upgrade 20251126160000+0.1.0`);
    expect(rules()).toBe(loaded);
    for (const [prerm, abort] of [['remove', 'abort-remove'], ['deconfigure', 'abort-deconfigure']]) {
      sb().ok(`${INFO}.prerm ${prerm}${prerm === 'deconfigure' ? ' in-favour foo 1 removing linkbal-site 20251125160000+0.1.0' : ''}`);
      expect(rules(), prerm).toBe(rulesBefore);
      expect(sb().run('test -e /usr/sbin/linkbal').status, prerm).not.toBe(0);
      sb().ok(`${INFO}.postinst ${abort} 20251125160000+0.1.0`);
      running();
      expect(sb().ok('readlink -f /usr/sbin/linkbal').trim(), abort).toBe('/usr/share/linkbal-site/linkbal');
    }
    sb().ok(`${INFO}.postinst abort-upgrade 20251126160000+0.1.0`);
    running();
  });

  it('apt remove (not purge) disables linkbal: the rules go, the hook does nothing; installed again, it works again', () => {
    sb().ok(`${APT} remove linkbal-site`);
    expect(rules()).toBe(rulesBefore);
    for (const f of FILES) expect(sb().run(`test -f ${f}`).status, f).toBe(0); // conffiles stay until purge
    expect(sb().run('test -e /usr/sbin/linkbal').status).not.toBe(0);
    sb().ok(IFUP);
    expect(rules()).toBe(rulesBefore);
    sb().ok(`${APT} -o Dpkg::Options::=--force-confold install ${second}`);
    running();
    sb().ok('linkbal stop');
    sb().ok(IFUP);
    running();
  });

  it('purging the tool package leaves the site package\'s files, command and rules alone', () => {
    sb().ok(`${APT} install ${buildToolDeb()}`);
    // both ship the command: the alternative stays the site package's (priority 50 over 40)
    expect(sb().ok('update-alternatives --query linkbal')).toMatch(/^Value: \/usr\/share\/linkbal-site\/linkbal$/m);
    const r = sb().ok(`${APT} purge linkbal 2>&1`);
    expect(r).toContain('belongs to a package (linkbal-site?): left in place');
    for (const f of FILES) expect(sb().run(`test -f ${f}`).status, f).toBe(0);
    running();
    expect(sb().ok('readlink -f /usr/sbin/linkbal').trim()).toBe('/usr/share/linkbal-site/linkbal');
  });

  it('purge stops the rules and leaves nothing behind where linkbal writes, whatever other dpkg hooks wrote', () => {
    sb().ok(`${APT} purge linkbal-site`);
    expect(rules()).toBe(rulesBefore);
    const after = sb().listing();
    expect([...after].filter((l) => l.includes('linkbal'))).toEqual([]);
    expect(difference(before, after)).toEqual({ added: [], removed: [] });
    // the foreign hook did write: a whole-filesystem comparison would have failed here
    const foreign = [...after].filter((l) => !before.has(l)).map((l) => l.split(' ')[2]);
    expect(foreign).toEqual(expect.arrayContaining(['/var/cache/foo', '/etc/foo.d/stamp']));
  });
});
