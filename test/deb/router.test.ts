// Both packages on a lab router (test/lab). Tool: apt install, linkbal-gen, ifup, the
// connections spread; apt remove disables linkbal (the next ifup loads nothing), a
// reinstall enables it; purge takes every rule away. Site: apt installs it, ifup brings an
// uplink in; the next site package with one more uplink upgrades it and the running rules
// follow; remove disables it likewise; purge takes every rule away.
//
// dpkg's state has to outlive each lab.exec (each is a new mount namespace), so /usr and
// /var are overlays whose upper layers are directories on disk, mounted again in each
// exec that needs them, and so is /etc/alternatives (the link /usr/sbin/linkbal goes through);
// /etc/linkbal and /etc/network are the lab root's (lab.sh binds them).
// ifup and ifdown run there too: the hooks need the packages' /usr/sbin/linkbal (the
// lab's own, on its /usr/sbin, is hidden by that /usr).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Lab } from '../lab/lab.js';
import { tmpdir } from '../helpers.js';
import { buildSiteDeb, buildToolDeb } from './helpers.js';

// the health trackers probe the lab's own servers, never a public address
const PROBES = '--probe 203.0.113.1 --probe 203.0.113.2';
const LINKS1 = ['--iface', 'wan1', '--gw', '10.1.1.1', '--backend', 'nftables', ...PROBES.split(' ')];
const LINKS2 = [...LINKS1, '--iface', 'wan2', '--gw', '10.1.2.1'];
const APT = 'apt-get -y -q -o Dpkg::Use-Pty=0';

/** A lab router with wan0 (the default link) up, and dpkg state that outlives each exec. */
function labRouter(prepare: (dir: string) => void = () => {}) {
  let lab: Lab | undefined;
  const dir = tmpdir('linkbal-deb-lab-');
  const layers = path.join(dir, 'layers');
  const r = {
    dir,
    before: '',
    get lab(): Lab { return lab as Lab; },
    /** sh -c SCRIPT in the lab host, with the persistent /usr and /var overlays mounted. */
    dpkgExec: (script: string) => r.lab.execOk(['sh', '-c', `set -e
    for top in usr var etc/alternatives; do
      mount -t overlay "linkbal-lab-$top" -o "lowerdir=/$top,upperdir=${layers}/$top/upper,workdir=${layers}/$top/work" "/$top"
    done
    mount --bind ${r.lab.root}/var/lib/dhcp /var/lib/dhcp
    export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
    ${script}`]).stdout,
    state: () => r.lab.execOk(['sh', '-c',
      "nft list ruleset; ip rule; ip route show table all | grep ' table ' | grep -v -e 'table local' -e 'table main' || true"]).stdout,
    ifup: (iface: string) => r.dpkgExec(`ifup ${iface}`),
    ifdown: (iface: string) => r.dpkgExec(`ifdown ${iface}`),
    // 40 held open at once, as a router's clients hold theirs: with least (the default)
    // the first 16 fill the slots by weight, the rest go by weight (nth)
    spread: () => {
      const c = r.lab.connections(40, { hold: true });
      expect(c.errorMessages).toEqual([]);
      return c.counts;
    },
  };
  beforeAll(() => {
    prepare(dir);
    for (const top of ['usr', 'var', 'etc/alternatives']) for (const d of ['upper', 'work']) mkdirSync(path.join(layers, top, d), { recursive: true });
    lab = Lab.create({ uplinks: 3 });
    mkdirSync(path.join(lab.root, 'etc/linkbal'), { recursive: true }); // so that lab.sh binds it in every exec
    lab.ifup('wan0');
    r.before = r.state();
  }, 300_000);
  afterAll(() => {
    try { lab?.destroy(); } finally { rmSync(dir, { recursive: true, force: true }); }
  });
  return r;
}

describe('linkbal (the tool package) on a lab router', () => {
  const r = labRouter();
  const { dpkgExec, state, spread, ifup, ifdown } = r;
  let deb = '';

  it('apt install, linkbal-gen, ifup: connections spread over every uplink', () => {
    deb = buildToolDeb();
    const out = dpkgExec(`${APT} install ${deb} >&2
      linkbal-gen --iface wan1 --gw 10.1.1.1 --iface wan2 --gw 10.1.2.1 --weight 2 ${PROBES}`);
    expect(out).toContain('wrote /etc/network/if-up.d/linkbal');
    ifup('wan1');
    ifup('wan2');
    expect(spread()).toEqual({ wan0: 10, wan1: 10, wan2: 20 });
  });

  it('apt remove disables linkbal: its rules go, and the next ifup of an uplink loads nothing', () => {
    dpkgExec(`${APT} remove linkbal`);
    expect(state()).toBe(r.before);
    ifdown('wan2');
    ifup('wan2');
    expect(state()).toBe(r.before); // no table inet linkbal, no ip rule, no route of linkbal's
    expect(spread()).toEqual({ wan0: 40 });
  });

  it('installed again, the next ifup balances again', () => {
    dpkgExec(`${APT} install ${deb} >&2`);
    for (const i of ['wan1', 'wan2']) { ifdown(i); ifup(i); }
    expect(spread()).toEqual({ wan0: 10, wan1: 10, wan2: 20 });
  });

  it('apt purge removes every rule, route and file linkbal-gen made', () => {
    dpkgExec(`${APT} purge linkbal`);
    expect(state()).toBe(r.before);
    expect(spread()).toEqual({ wan0: 40 });
    expect(dpkgExec('find /etc/linkbal /etc/network /etc/iproute2 /usr/share/doc /var/lib/dpkg/info -mindepth 1 -name "*linkbal*"')).toBe('');
  });
});

describe('linkbal-site on a lab router', () => {
  const first = () => path.join(r.dir, 'first.deb');
  const second = () => path.join(r.dir, 'second.deb');
  const r = labRouter((dir) => {
    buildSiteDeb(path.join(dir, 'first.deb'), 1_764_000_000, LINKS1);
    buildSiteDeb(path.join(dir, 'second.deb'), 1_764_086_400, LINKS2);
  });
  const { dpkgExec, state, spread, ifup, ifdown } = r;

  it('installs with apt; from the next ifup the uplink takes its share', () => {
    dpkgExec(`${APT} install ${first()}`);
    expect(spread()).toEqual({ wan0: 40 }); // wan1 is not up yet
    ifup('wan1');
    const counts = spread();
    expect(Object.keys(counts).sort()).toEqual(['wan0', 'wan1']);
    expect(counts.wan0).toBe(20);
  });

  it('the next site package, with one more uplink, updates the running rules at once', () => {
    ifup('wan2'); // up, but not in the installed rules
    expect(Object.keys(spread()).sort()).toEqual(['wan0', 'wan1']);
    const out = dpkgExec(`${APT} install ${second()}`);
    expect(out).toMatch(/Unpacking linkbal-site \(20251125160000\+0\.1\.0\) over \(20251124160000\+0\.1\.0\)/);
    const counts = spread();
    expect(Object.keys(counts).sort()).toEqual(['wan0', 'wan1', 'wan2']);
  });

  it('apt remove disables it: its rules go, and the next ifup loads nothing; installed again, it balances again', () => {
    dpkgExec(`${APT} remove linkbal-site`);
    expect(state()).toBe(r.before);
    ifdown('wan1');
    ifup('wan1');
    expect(state()).toBe(r.before);
    expect(spread()).toEqual({ wan0: 40 });
    dpkgExec(`${APT} install ${second()}`); // postinst: rules restart, for the links up
    expect(Object.keys(spread()).sort()).toEqual(['wan0', 'wan1', 'wan2']);
    ifdown('wan2');
    expect(Object.keys(spread()).sort()).toEqual(['wan0', 'wan1']);
    ifup('wan2');
    expect(Object.keys(spread()).sort()).toEqual(['wan0', 'wan1', 'wan2']);
  });

  it('purge removes every rule, route and file it added', () => {
    dpkgExec(`${APT} purge linkbal-site`);
    expect(state()).toBe(r.before);
    expect(spread()).toEqual({ wan0: 40 });
    // /etc/linkbal itself stays: it is lab.sh's mount point here
    expect(dpkgExec('find /etc/linkbal /etc/network /etc/iproute2 /usr/share/doc /var/lib/dpkg/info -mindepth 1 -name "*linkbal*"')).toBe('');
    expect(dpkgExec('find /etc/linkbal -mindepth 1')).toBe('');
  });
});
