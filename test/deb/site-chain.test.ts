// The site package with real apt and dpkg, in a throwaway sandbox: install (postinst applies
// the rules), an admin edits a conffile, a second site package with other links upgrades it
// non-interactively keeping the edit, purge takes the rules and every file away.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { Sandbox } from './sandbox.js';
import { buildSiteDeb, buildToolDeb, difference } from './helpers.js';
import { tmpdir } from '../helpers.js';

const APT = 'apt-get -y -q -o Dpkg::Use-Pty=0'; // the sandbox has no network: nothing can be downloaded
const FILES = ['/etc/network/if-up.d/linkbal', '/etc/network/if-down.d/linkbal', '/etc/linkbal/rules', '/etc/linkbal/learner',
  '/etc/linkbal/tracker', '/etc/linkbal/guard', '/etc/linkbal/linkbal.conf', '/etc/iproute2/rt_tables.d/linkbal.conf'];
const EDIT = '# admin: eth1 is the fibre line';

describe('linkbal-site with apt, in a sandbox', () => {
  let box: Sandbox | undefined;
  const sb = () => box as Sandbox;
  const dir = tmpdir('linkbal-site-');
  const first = path.join(dir, 'first.deb');
  const second = path.join(dir, 'second.deb');
  let before = new Set<string>();
  let rulesBefore = '';
  const rules = () => sb().ok('ip rule list; nft list ruleset');

  beforeAll(async () => {
    buildSiteDeb(first, 1_764_000_000, ['--iface', 'eth1', '--gw', '172.16.0.1', '--backend', 'nftables']);
    buildSiteDeb(second, 1_764_086_400, ['--iface', 'eth1', '--gw', '172.16.0.1', '--weight', '3',
      '--iface', 'eth2', '--gw', '192.168.7.1', '--backend', 'nftables']);
    box = await Sandbox.create();
    before = sb().listing();
    rulesBefore = rules();
  }, 300_000);
  afterAll(async () => { await box?.destroy(); });

  it('installs without Node.js dependencies, as conffiles, and applies the rules', () => {
    const out = sb().ok(`${APT} install ${first}`);
    expect(out).not.toMatch(/nodejs/);
    expect(sb().ok('dpkg-query -W -f \'${Version}\' linkbal-site')).toBe('20251124160000+0.1.0');
    expect(sb().ok('dpkg-query -W -f \'${Conffiles}\' linkbal-site').split('\n').map((l) => l.trim().split(' ')[0]).filter(Boolean).sort())
      .toEqual([...FILES].sort());
    expect(rules()).toMatch(/table inet linkbal/);
  });

  it('upgrades to the next site package, keeping an edited conffile and updating the others', () => {
    sb().ok(`printf '%s\\n' '${EDIT}' >>/etc/linkbal/linkbal.conf`);
    const out = sb().ok(`${APT} -o Dpkg::Options::=--force-confold install ${second}`);
    expect(out).toMatch(/Unpacking linkbal-site \(20251125160000\+0\.1\.0\) over \(20251124160000\+0\.1\.0\)/);
    expect(sb().ok('dpkg-query -W -f \'${Version}\' linkbal-site')).toBe('20251125160000+0.1.0');
    const conf = sb().ok('cat /etc/linkbal/linkbal.conf');
    expect(conf).toContain(EDIT);
    expect(conf).not.toContain('eth2');
    expect(sb().ok('cat /etc/linkbal/linkbal.conf.dpkg-dist')).toContain('iface eth2 gw 192.168.7.1 weight 1');
    expect(sb().ok('cat /etc/linkbal/rules')).toMatch(/eth1 172\.16\.0\.1 3 .*\neth2 192\.168\.7\.1 1 /);
    expect(rules()).toMatch(/table inet linkbal/);
    expect(sb().ok('/etc/linkbal/rules status')).toContain('eth2');
  });

  it('purging the tool package leaves the site package\'s files and rules alone', () => {
    sb().ok(`${APT} install ${buildToolDeb()}`);
    const r = sb().ok(`${APT} purge linkbal 2>&1`);
    expect(r).toContain('belongs to a package (linkbal-site?): left in place');
    for (const f of FILES) expect(sb().run(`test -f ${f}`).status, f).toBe(0);
    expect(rules()).toMatch(/table inet linkbal/);
  });

  it('purge stops the rules and leaves no file behind', () => {
    sb().ok(`${APT} purge linkbal-site`);
    expect(rules()).toBe(rulesBefore);
    const after = sb().listing();
    expect([...after].filter((l) => l.includes('linkbal'))).toEqual([]);
    expect(difference(before, after)).toEqual({ added: [], removed: [] });
  });
});
