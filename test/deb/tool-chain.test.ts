// The used-by chain of the tool package with real apt and dpkg, in a throwaway sandbox
// (overlays over /etc, /usr, /var; own /run and network): install, linkbal-gen writes the
// hooks, remove keeps them working, purge leaves nothing behind (no file, no rule).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from './sandbox.js';
import { VERSION_JSON, buildToolDeb, difference } from './helpers.js';

const HOOKS = ['/etc/network/if-up.d/linkbal', '/etc/network/if-down.d/linkbal', '/etc/linkbal/rules', '/etc/linkbal/linkbal.conf',
  '/etc/iproute2/rt_tables.d/linkbal.conf'];
// no --no-download: it refuses local .deb files. The sandbox has no network at all (its own
// network namespace, only lo), so apt resolving the Depends proves it needs no download.
const APT = 'apt-get -y -q -o Dpkg::Use-Pty=0';

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
    before = sb().listing();
    rulesBefore = rules();
  }, 300_000);
  afterAll(async () => { await box?.destroy(); });

  it('installs offline with apt, puts linkbal-gen and its man page on the system', () => {
    sb().ok(`${APT} install ${deb}`);
    expect(sb().ok('dpkg-query -W -f \'${Version} ${db:Status-Status}\' linkbal')).toBe(`${VERSION_JSON.version} installed`);
    expect(sb().ok('command -v linkbal-gen').trim()).toBe('/usr/bin/linkbal-gen');
    expect(sb().ok('linkbal-gen --version').trim()).toBe(VERSION_JSON.version);
    expect(sb().ok('man -w linkbal-gen').trim()).toBe('/usr/share/man/man1/linkbal-gen.1.gz');
    // the package owns nothing under /etc
    expect(sb().ok('dpkg-query -L linkbal')).not.toMatch(/^\/etc/m);
  });

  it('linkbal-gen writes the hooks and rules under /etc and says what to run next', () => {
    const out = sb().ok('linkbal-gen --iface eth1 --gw 172.16.0.1');
    for (const f of HOOKS) expect(out).toContain(`wrote ${f}`);
    expect(out).toContain('/etc/linkbal/rules restart');
    sb().ok('/etc/linkbal/rules restart');
    expect(rules()).toMatch(/linkbal/);
  });

  it('apt remove keeps the generated files, and the rules script still runs', () => {
    sb().ok(`${APT} remove linkbal`);
    expect(sb().run('command -v linkbal-gen').status).not.toBe(0);
    for (const f of HOOKS) expect(sb().run(`test -f ${f}`).status, f).toBe(0);
    expect(sb().run('test -x /etc/network/if-up.d/linkbal && test -x /etc/linkbal/rules').status).toBe(0);
    const status = sb().ok('/etc/linkbal/rules status');
    expect(status).toContain('eth1');
  });

  it('apt purge stops the rules and leaves no file behind', () => {
    sb().ok(`${APT} purge linkbal`);
    expect(sb().ok('dpkg-query -W -f \'${db:Status-Status}\' linkbal 2>/dev/null || echo gone').trim()).toMatch(/^(not-installed|gone)$/);
    expect(rules()).toBe(rulesBefore);
    const after = sb().listing();
    expect([...after].filter((l) => l.includes('linkbal'))).toEqual([]);
    expect(difference(before, after)).toEqual({ added: [], removed: [] });
  });
});
