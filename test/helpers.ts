// Shared test helpers: the CLI in-process, and prerequisites that fail loudly, never skip.
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../src/main.js';
import type { Backend } from '../src/model.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** --mode nth: for tests that count the links of connections opened one after another.
 *  Each takes its exact turn by weight; with least (nftables' default) each would find
 *  every link idle and take the heaviest. */
export const EXACT = ['--mode', 'nth'];

export interface CliResult { code: number; stdout: string; stderr: string }

export async function cli(args: string[], backend: Backend = 'nftables', env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (t) => { stdout += t; },
    stderr: (t) => { stderr += t; },
    readFile: (f) => readFile(f, 'utf8'),
    isDirectory: (f) => stat(f).then((s) => s.isDirectory(), () => false),
    autoBackend: () => backend,
    env,
  });
  return { code, stdout, stderr };
}

/** Expect counts drawn at random to fit the expected ones for three links: Pearson's
 *  chi-square statistic under 13.82 (2 degrees of freedom, p > 0.001). */
export function expectChiSquareFit(counts: Record<string, number>, expected: Record<string, number>): void {
  const x2 = Object.entries(expected).reduce((s, [k, e]) => s + ((counts[k] ?? 0) - e) ** 2 / e, 0);
  expect(Object.keys(expected)).toHaveLength(3);
  expect(x2, JSON.stringify(counts)).toBeLessThan(13.82);
}

/** The links each host's connections took, connection k having gone to hosts[k % hosts.length]
 *  (client.js takes the hosts in turn). */
export function linksByHost(order: string[], hosts: string[]): Map<string, Set<string>> {
  const byHost = new Map<string, Set<string>>();
  order.forEach((u, k) => {
    const h = hosts[k % hosts.length] as string;
    byHost.set(h, (byHost.get(h) ?? new Set()).add(u));
  });
  return byHost;
}

const made: string[] = [];

/** A new directory under the system's temporary one, removed after the test file (setup.ts). */
export function tmpdir(prefix = 'linkbal-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTmpdirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A binary the test cannot do without: missing is a failure with the package to install. */
export function need(bin: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${bin} is missing: install Debian package ${pkg} (make deps)`);
}

export function sh(script: string, input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', input });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const HOWTO_ARGS = [
  '--iface', 'eth1', '--gw', '172.16.0.1', '--iface', 'rausb0', '--gw', '192.168.0.1',
  '--bypass-dst', '192.168.1.0/24', '--bypass-port', 'tcp/21,22,80,443,6667', '--bypass-port', 'udp/53',
];

/** An admin's saved iptables (or ip6tables) ruleset without linkbal, as iptables-save writes
 *  it, with NAT (lines) in nat's POSTROUTING: what a full iptables-restore, or
 *  netfilter-persistent from /etc/iptables/rules.v4, puts back. */
export const savedRuleset = (nat = ''): string => `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
${nat}COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
COMMIT
`;

export function read(p: string): string {
  return readFileSync(p, 'utf8');
}

/** The files and folders under root, relative to it, sorted. */
export const listing = (root: string): string[] => readdirSync(root, { recursive: true }).map(String).sort();

/** linkbal-gen refuses ARGS: exit 2, each fragment on stderr, nothing written. */
export async function rejects(args: string[], ...fragments: string[]): Promise<string> {
  const root = tmpdir();
  const r = await cli([...args, '--root', root]);
  expect(r.code, r.stderr).toBe(2);
  for (const f of fragments) expect(r.stderr).toContain(f);
  expect(r.stderr).toContain('nothing written');
  expect(listing(root)).toEqual([]);
  return r.stderr;
}

/** linkbal-gen ARGS, then `--config` on the linkbal.conf it saved: the same files, byte for byte. */
export async function expectConfigRoundTrip(args: string[]): Promise<void> {
  const first = tmpdir();
  expect((await cli([...args, '--root', first])).code).toBe(0);
  const second = tmpdir();
  const r = await cli(['--config', path.join(first, 'etc/linkbal/linkbal.conf'), '--root', second]);
  expect(r.code, r.stderr).toBe(0);
  for (const f of listing(first).filter((f) => statSync(path.join(first, f)).isFile())) {
    expect(read(path.join(second, f)), `${args.join(' ')}: ${f}`).toBe(read(path.join(first, f)));
  }
}
