// Building the packages for the deb tests, and what an install may leave behind by design.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, need, tmpdir } from '../helpers.js';

export const VERSION_JSON = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };

export function sh(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, cwd: REPO, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** scripts/build-deb.sh into a new directory; the path of the .deb. */
export function buildToolDeb(): string {
  for (const [bin, pkg] of [['dpkg-deb', 'dpkg'], ['dpkg-parsechangelog', 'dpkg-dev'], ['gzip', 'gzip']] as const) need(bin, pkg);
  const out = tmpdir('linkbal-deb-');
  const r = sh('sh', ['scripts/build-deb.sh', out]);
  if (r.status !== 0) throw new Error(`build-deb.sh failed (${r.status}):\n${r.stderr}${r.stdout}`);
  const deb = r.stdout.trim().split('\n').pop() as string;
  if (deb !== path.join(out, `linkbal_${VERSION_JSON.version}_all.deb`)) throw new Error(`build-deb.sh said ${deb}`);
  return deb;
}

/** linkbal-gen --deb from dist/ (make builds it), with a fixed SOURCE_DATE_EPOCH. */
export function buildSiteDeb(file: string, epoch: number, args: string[], env: Record<string, string> = {}) {
  const r = sh(process.execPath, [path.join(REPO, 'dist/cli.js'), ...args, '--deb', file],
    { SOURCE_DATE_EPOCH: String(epoch), ...env });
  if (r.status !== 0) throw new Error(`linkbal-gen --deb failed (${r.status}):\n${r.stderr}`);
  return r;
}

/** lintian as the issue asks; the output for the failure message. */
export function lintian(deb: string): { status: number; output: string } {
  need('lintian', 'lintian');
  const r = sh('lintian', ['--fail-on', 'error,warning', '--info', '--display-experimental', '--pedantic', deb]);
  const output = (r.stdout + r.stderr).split('\n').filter((l) => l && !/running with root privileges/.test(l)).join('\n');
  return { status: r.status, output };
}

/** What linkbal, either package or linkbal-gen, could have written: the only paths an
 *  install-then-purge comparison looks at. Other packages' dpkg hooks (adequate,
 *  etckeeper, an admin's DPkg::Post-Invoke) write elsewhere as they like. */
const LINKBAL_PATHS = new RegExp('^(' + [
  '/etc/linkbal(/.*)?',
  '/etc/network/if-[a-z-]+\\.d/\\.?linkbal.*',
  '/etc/iproute2', '/etc/iproute2/rt_tables\\.d', '/etc/iproute2/rt_tables\\.d/\\.?linkbal.*',
  '/etc/alternatives/linkbal.*', '/var/lib/dpkg/alternatives/linkbal.*',
  '/usr/sbin/linkbal.*', '/usr/bin/linkbal.*', '/usr/share/linkbal.*',
  '/usr/lib/systemd/system/nftables\\.service\\.d', '/usr/lib/systemd/system/nftables\\.service\\.d/linkbal.*',
  '/usr/share/netfilter-persistent/plugins\\.d', '/usr/share/netfilter-persistent/plugins\\.d/90-linkbal.*',
  '/usr/share/doc/linkbal.*', '/usr/share/man/man\\d/linkbal.*', '/usr/share/lintian/overrides/linkbal.*',
  '/run/linkbal(/.*)?', '/var/lib/dpkg/info/linkbal.*',
].join('|') + ')$');

/** A listing line ("TYPE MODE PATH -> TARGET") of a path linkbal could have touched. */
export const linkbalPath = (line: string): boolean => LINKBAL_PATHS.test(line.split(' ')[2] ?? '');

/** What a listing gained or lost among the paths linkbal could have touched. */
export function difference(before: Set<string>, after: Set<string>): { added: string[]; removed: string[] } {
  return {
    added: [...after].filter((l) => !before.has(l) && linkbalPath(l)),
    removed: [...before].filter((l) => !after.has(l) && linkbalPath(l)),
  };
}

/** An apt hook of another package, as adequate's or etckeeper's: after every dpkg run it
 *  writes files of its own (/var/cache/foo, /etc/foo.d/stamp). */
export const FOREIGN_HOOK = `mkdir -p /etc/foo.d && printf '%s\\n' 'DPkg::Post-Invoke { "date >/var/cache/foo; date >/etc/foo.d/stamp"; };' >/etc/apt/apt.conf.d/99foo`;
