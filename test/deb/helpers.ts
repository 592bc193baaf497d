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

/** Paths that dpkg and apt change on any install and purge, which piuparts ignores too:
 *  their databases, logs and caches. Everything else must be as before. */
const NOISE = [
  /^\S+ \S+ \/var\/lib\/dpkg\/(status|status-old|available|available-old|lock.*|triggers\/.*|diversions.*|statoverride.*|info\/format|cmethopt|info|updates|updates\/.*) -> $/,
  /^\S+ \S+ \/var\/lib\/apt\/(extended_states|lists\/.*|periodic\/.*) -> $/,
  /^\S+ \S+ \/var\/cache\/(apt|man|debconf|ldconfig)(\/.*)? -> $/,
  /^\S+ \S+ \/var\/log\/(apt|dpkg\.log|alternatives\.log)(\/.*)? -> $/,
  /^\S+ \S+ \/etc\/ld\.so\.cache -> $/,
];

/** What a listing gained or lost, beyond NOISE. */
export function difference(before: Set<string>, after: Set<string>): { added: string[]; removed: string[] } {
  const keep = (l: string) => !NOISE.some((re) => re.test(l));
  return {
    added: [...after].filter((l) => !before.has(l) && keep(l)),
    removed: [...before].filter((l) => !after.has(l) && keep(l)),
  };
}
