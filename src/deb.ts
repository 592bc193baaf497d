// The site package: `linkbal-gen ... --deb FILE` packs the rendered files into a Debian
// package, linkbal-site, for a router without Node.js. Staged in a temporary directory and
// built with `dpkg-deb --root-owner-group --build`, reproducibly for a given time stamp.
import { spawnSync } from 'node:child_process';
import {
  chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Plan, weightText } from './model.js';
import type { RenderedFile } from './render.js';
import type { Problem } from './settings.js';
import { show } from './validate.js';
import { VERSION } from './version.js';

export const SITE_PACKAGE = 'linkbal-site';
const DEFAULT_MAINTAINER = 'linkbal-gen <linkbal-site@site.invalid>';

/** The caller's environment (io.env): deb.ts reads no other. */
export type Env = Readonly<Record<string, string | undefined>>;

/** A failure that is the workstation's, not the input's: exit 1. */
export class DebError extends Error {}

export interface SiteOptions {
  plan: Plan;
  files: RenderedFile[];
  /** seconds since the epoch: the version, the changelog date and every mtime */
  epoch: number;
  /** "Name <address>" */
  maintainer: string;
}

/** The time stamp from SOURCE_DATE_EPOCH (digits only), else now; undefined if it is malformed. */
export function buildEpoch(env: Env, now = Date.now()): number | undefined {
  const sde = env.SOURCE_DATE_EPOCH;
  if (sde === undefined || sde === '') return Math.floor(now / 1000);
  return /^\d{1,12}$/.test(sde) ? Number(sde) : undefined;
}

/** DEBFULLNAME and DEBEMAIL with a control character (a newline would start a field of its own in
 *  the control file's Maintainer, a carriage return or an escape would hide text on a
 *  terminal): refused, exit 2, rather than dropped for the placeholder without a word. */
export function maintainerProblems(env: Env): Problem[] {
  return (['DEBFULLNAME', 'DEBEMAIL'] as const).flatMap((name) => {
    const v = env[name];
    return v !== undefined && /\p{Cc}/u.test(v)
      ? [{ where: name, message: `${show(v)} contains a control character; it would go into the package's Maintainer field` }]
      : [];
  });
}

/** DEBFULLNAME <DEBEMAIL> as dch uses them, else a fixed placeholder in RFC 2606's .invalid (same bytes everywhere). */
export function maintainer(env: Env): string {
  const name = env.DEBFULLNAME?.trim();
  const mail = env.DEBEMAIL?.trim();
  const clean = (s: string) => /^[^<>\n,]+$/.test(s);
  if (mail && clean(mail) && /^\S+@\S+$/.test(mail)) return `${name && clean(name) ? name : 'linkbal-gen'} <${mail}>`;
  return DEFAULT_MAINTAINER;
}

/** TIMESTAMP+VERSION: a package built later sorts higher, whatever linkbal version built it
 *  (so a router can take a package from a workstation with an older linkbal). */
export function siteVersion(epoch: number): string {
  const stamp = new Date(epoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${stamp}+${VERSION}`;
}

export function siteDepends(plan: Plan): string {
  const deps = ['iproute2', plan.backend, 'ifupdown | ifupdown2'];
  if (plan.flushOnDown) deps.push('conntrack');
  return deps.join(', ');
}

function summary(plan: Plan): string {
  const links = plan.links.map((l) => `${l.iface} (gateway ${l.gw}, weight ${weightText(plan, l)})`).join(', ');
  return `uplinks ${links}; default link weight ${plan.defaultWeight}; mode ${plan.mode}; backend ${plan.backend}` +
    (plan.lan.length ? `; LAN ${plan.lan.join(', ')}` : '') + (plan.flushOnDown ? '; flush on down' : '');
}

/** Wrap to continuation lines of a control field (" " + text, "." for blank). */
function wrap(text: string, width = 72): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l) => ` ${l}`);
}

function rfc2822(epoch: number): string {
  const d = new Date(epoch * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** The site package's fixed files, kept as files to read and lint: debian/site/ in the
 *  checkout (found from dist/ or src/), /usr/share/linkbal/site/ beside the bundled
 *  linkbal-gen.mjs of the tool package (scripts/build-deb.sh puts them there). */
function siteDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'site'), path.join(here, '..', 'debian', 'site')]) {
    if (existsSync(path.join(dir, 'postinst'))) return dir;
  }
  throw new Error(`the site package's postinst, prerm and copyright not found next to ${here}`);
}

type SiteFile = 'preinst' | 'postinst' | 'prerm' | 'postrm' | 'copyright' | 'nftables-reload.conf' | 'netfilter-persistent-plugin';

function readSite(name: SiteFile): string {
  return readFileSync(path.join(siteDir(), name), 'utf8');
}

/** The linkbal command and its man page, which the tool package ships too: debian/linkbal
 *  and debian/linkbal.8 in the checkout, /usr/share/linkbal/linkbal and linkbal.8.gz in
 *  the tool package (both beside the site directory). */
function readCommand(): { command: string; manPage: string } {
  const dir = path.dirname(siteDir());
  const man = path.join(dir, 'linkbal.8');
  return {
    command: readFileSync(path.join(dir, 'linkbal'), 'utf8'),
    manPage: existsSync(man) ? readFileSync(man, 'utf8') : gunzipSync(readFileSync(`${man}.gz`)).toString('utf8'),
  };
}

/** debian/site/copyright with its one substitution: @VERSION@, the linkbal-gen that rendered the files. */
function copyright(): string {
  return readSite('copyright').replace(/@VERSION@/g, VERSION);
}

/** Every file of the package but DEBIAN/, relative, with mode and content. */
export function siteFiles(opts: SiteOptions, version = siteVersion(opts.epoch)): RenderedFile[] {
  const doc = `usr/share/doc/${SITE_PACKAGE}`;
  const changelog = `${SITE_PACKAGE} (${version}) unstable; urgency=medium

${wrap(`* Built by linkbal-gen ${VERSION}: ${summary(opts.plan)}.`, 76).map((l, i) => (i ? `   ${l}` : ` ${l}`)).join('\n')}

 -- ${opts.maintainer}  ${rfc2822(opts.epoch)}
`;
  for (const f of opts.files) {
    if (!f.path.startsWith('etc/')) throw new Error(`site package: ${f.path} is not under /etc`);
  }
  const { command, manPage } = readCommand();
  return [
    ...opts.files,
    // the alternative /usr/sbin/linkbal (postinst), which the tool package may provide too
    { path: `usr/share/${SITE_PACKAGE}/linkbal`, mode: 0o755, content: command },
    { path: `usr/share/${SITE_PACKAGE}/linkbal.8.gz`, mode: 0o644, content: manPage },
    // after a firewall reload, rules reload: named apart from the tool package's own copies
    { path: `usr/lib/systemd/system/nftables.service.d/${SITE_PACKAGE}.conf`, mode: 0o644, content: readSite('nftables-reload.conf') },
    { path: `usr/share/netfilter-persistent/plugins.d/90-${SITE_PACKAGE}`, mode: 0o755, content: readSite('netfilter-persistent-plugin') },
    { path: `${doc}/copyright`, mode: 0o644, content: copyright() },
    { path: `${doc}/changelog.gz`, mode: 0o644, content: changelog },
  ];
}

export function siteControl(opts: SiteOptions, installedSize: number, version = siteVersion(opts.epoch)): string {
  return [
    `Package: ${SITE_PACKAGE}`,
    `Version: ${version}`,
    'Architecture: all',
    `Maintainer: ${opts.maintainer}`,
    `Installed-Size: ${installedSize}`,
    `Depends: ${siteDepends(opts.plan)}`,
    'Section: net',
    'Priority: optional',
    'Description: linkbal hooks and rules for the uplinks of one router',
    ...wrap('The ifupdown hooks and the rules script that linkbal-gen rendered for this site, as conffiles: ' +
      'each new connection goes to the default link or to one of the uplinks that are up, by weight, ' +
      'marked by nftables or iptables and routed by policy routing.'),
    ' .',
    ...wrap(`Settings: ${summary(opts.plan)}.`),
    ' .',
    ...wrap(`Built by linkbal-gen ${VERSION}. Installing this package applies the rules to links that are up ` +
      '(/etc/linkbal/rules restart); removing it takes them away. It does not need Node.js.'),
    '',
  ].join('\n');
}

function dpkgDeb(args: string[], env: Env): void {
  const r = spawnSync('dpkg-deb', args, { encoding: 'utf8', env });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new DebError('--deb needs dpkg-deb (Debian package dpkg), which is not on PATH');
  }
  if (r.error) throw new DebError(`dpkg-deb: ${r.error.message}`);
  if (r.status !== 0) throw new DebError(`dpkg-deb --build failed: ${(r.stderr || r.stdout).trim()}`);
}

function walk(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel)).sort().flatMap((name) => {
    const r = rel ? `${rel}/${name}` : name;
    return lstatSync(path.join(dir, r)).isDirectory() ? [r, ...walk(dir, r)] : [r];
  });
}

/** Build the site package at `file`; returns its version. Throws DebError (exit 1).
 *  `env` is the caller's environment: the staging directory goes under its TMPDIR (else
 *  /tmp, as mktemp does), and dpkg-deb runs with it (its PATH finds dpkg-deb). */
export function buildSitePackage(file: string, opts: SiteOptions, env: Env): string {
  const version = siteVersion(opts.epoch);
  const stage = mkdtempSync(path.join(env.TMPDIR || '/tmp', 'linkbal-site-'));
  // beside the target, so that the rename is atomic; named after the unique staging directory
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${path.basename(stage)}.tmp`);
  try {
    const root = path.join(stage, 'pkg');
    mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
    const files = siteFiles(opts, version);
    for (const f of files) {
      const target = path.join(root, f.path);
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, f.path.endsWith('.gz') ? gzipSync(f.content, { level: 9 }) : f.content);
      chmodSync(target, f.mode);
    }
    const entries = walk(root).filter((p) => p !== 'DEBIAN');
    let size = 0;
    for (const p of entries) {
      const st = lstatSync(path.join(root, p));
      if (st.isDirectory()) chmodSync(path.join(root, p), 0o755);
      size += st.isFile() ? Math.ceil(st.size / 1024) : 1;
    }
    const conffiles = files.filter((f) => f.path.startsWith('etc/')).map((f) => `/${f.path}`).sort();
    const md5 = (p: string) => createHash('md5').update(readFileSync(path.join(root, p))).digest('hex');
    const control: [string, string, number][] = [
      ['control', siteControl(opts, size, version), 0o644],
      ['conffiles', `${conffiles.join('\n')}\n`, 0o644],
      ['md5sums', entries.filter((p) => lstatSync(path.join(root, p)).isFile() && !conffiles.includes(`/${p}`))
        .map((p) => `${md5(p)}  ${p}\n`).join(''), 0o644],
      // on an upgrade to another backend, the old script stops what it loaded
      ['preinst', readSite('preinst').replace(/@BACKEND@/g, opts.plan.backend), 0o755],
      ['postinst', readSite('postinst'), 0o755],
      ['prerm', readSite('prerm'), 0o755],
      ['postrm', readSite('postrm'), 0o755],
    ];
    for (const [name, content, mode] of control) {
      writeFileSync(path.join(root, 'DEBIAN', name), content);
      chmodSync(path.join(root, 'DEBIAN', name), mode);
    }
    chmodSync(path.join(root, 'DEBIAN'), 0o755);
    for (const p of [...walk(root), '.']) utimesSync(path.join(root, p), opts.epoch, opts.epoch);
    dpkgDeb(['--root-owner-group', '-Zxz', '--threads-max=1', '--build', root, tmp],
      { ...env, SOURCE_DATE_EPOCH: String(opts.epoch) });
    renameSync(tmp, file);
    return version;
  } finally {
    rmSync(stage, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
}
