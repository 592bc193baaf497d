// The built CLI in a child process whose reader goes away early (`| head -1`, quitting
// less): it ends quietly, its exit status says whether the files were written (issue 16).
// And an unexpected error is one line, its stack only with LINKBAL_DEBUG=1.
// Under Node 18, the oldest the package supports, and the system's node.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import fs from 'fs-extra';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOWTO_ARGS, REPO, tmpdir } from '../helpers.js';

const BIN = path.join(REPO, 'bin/linkbal-gen');
// Node 18 from node_modules (npx puts it first on PATH, so vitest itself may run under it),
// the system's node (the first on PATH outside node_modules) and this one, each once
const NODE18 = path.join(REPO, 'node_modules/node18/bin/node');
const systemNode = (process.env.PATH ?? '').split(':').filter((d) => d !== '' && !d.includes('node_modules'))
  .map((d) => path.join(d, 'node')).find(existsSync);
const byBinary = new Map<string, string>();
for (const n of [NODE18, systemNode, process.execPath]) {
  if (n !== undefined && existsSync(n)) byBinary.set(realpathSync(n), n);
}
if (!existsSync(NODE18)) throw new Error(`${NODE18} is missing: run make`);
const NODES = [...byBinary.values()].map((n) => [spawnSync(n, ['--version'], { encoding: 'utf8' }).stdout.trim(), n]);

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** linkbal-gen under `node`, its stdout read until `lines` lines have come (0: closed
 *  before the first), then closed; its stderr read whole. */
function closedAfter(node: string, args: string[], lines: number, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  if (!existsSync(path.join(REPO, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run make');
  return new Promise((resolve, reject) => {
    const child = spawn(node, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const enough = () => stdout.split('\n').length > lines;
    if (enough()) child.stdout.destroy();
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (enough()) child.stdout.destroy();
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const lineCount = (s: string) => s.split('\n').filter((l) => l !== '').length;

/** Every file under root, with its mode and content. */
function files(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(root, { recursive: true }).map(String).sort()) {
    const st = fs.statSync(path.join(root, f));
    out[f] = st.isFile() ? `${(st.mode & 0o7777).toString(8)}\n${fs.readFileSync(path.join(root, f), 'utf8')}` : 'dir';
  }
  return out;
}

describe.each(NODES)('linkbal-gen under Node %s', (_, node) => {
  it('ends a dry run quietly, exit 0, when its reader closes after one line', async () => {
    // an old rules file bigger than a pipe holds: the diff is still being written when the
    // reader closes, whatever the timing
    const root = tmpdir();
    const old = `# an old rules file\n${'x'.repeat(999)}\n`.repeat(300);
    fs.outputFileSync(path.join(root, 'etc/linkbal/rules'), old);
    const whole = await closedAfter(node, [...HOWTO_ARGS, '--root', root, '--dry-run'], Infinity);
    expect(whole.stdout.length).toBeGreaterThan(2 * 65536);

    const r = await closedAfter(node, [...HOWTO_ARGS, '--root', root, '--dry-run'], 1);
    expect(lineCount(r.stderr), r.stderr).toBeLessThanOrEqual(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r).toMatchObject({ code: 0, signal: null });
    expect(r.stdout.split('\n')[0]).toBe(whole.stdout.split('\n')[0]);
    expect(fs.readFileSync(path.join(root, 'etc/linkbal/rules'), 'utf8')).toBe(old);
  });

  // 0: every line it prints fails, whatever the timing; 1: `| head -1`, the rest failing
  // or not as the reader's close and the writes fall
  for (const lines of [0, 1]) {
    it(`writes the files whole and exits 0 when its reader closes after ${lines} line(s)`, async () => {
      const reference = tmpdir();
      const ok = await closedAfter(node, [...HOWTO_ARGS, '--root', reference], Infinity);
      expect(ok.code, ok.stderr).toBe(0);

      const root = tmpdir();
      const r = await closedAfter(node, [...HOWTO_ARGS, '--root', root], lines);
      expect(lineCount(r.stderr), r.stderr).toBeLessThanOrEqual(1);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r).toMatchObject({ code: 0, signal: null });
      expect(r.stdout.split('\n').slice(0, lines))
        .toEqual(ok.stdout.replaceAll(reference, root).split('\n').slice(0, lines));
      expect(Object.keys(files(reference))).toContain('etc/linkbal/rules');
      expect(files(root)).toEqual(files(reference));
    });
  }

  it('keeps its exit status 2 for bad input when stderr is closed', async () => {
    const root = tmpdir();
    const child = spawn(node, [BIN, '--iface', 'eth1', '--gw', '300.1.1.1', '--root', root],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.destroy();
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('ends, exit 1, when stderr fails otherwise (a full disk)', async () => {
    const root = tmpdir();
    const full = fs.openSync('/dev/full', 'w');
    try {
      const r = spawnSync(node, [BIN, '--iface', 'eth1', '--gw', '300.1.1.1', '--root', root],
        { stdio: ['ignore', 'ignore', full], timeout: 20_000 });
      expect(r.error).toBeUndefined(); // not killed by the timeout
      expect(r.status).toBe(1);
      expect(fs.readdirSync(root)).toEqual([]);
    } finally {
      fs.closeSync(full);
    }
  });

  it('says an unexpected error in one line, and its stack with LINKBAL_DEBUG=1', async () => {
    // a TMPDIR that does not exist: --deb cannot make its staging directory
    const deb = path.join(tmpdir(), 'site.deb');
    const args = ['--iface', 'eth1', '--gw', '172.16.0.1', '--deb', deb];
    const env = { TMPDIR: '/nonexistent/linkbal-test', SOURCE_DATE_EPOCH: '1700000000', LINKBAL_DEBUG: '' };
    const r = await closedAfter(node, args, Infinity, env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^linkbal-gen: internal error: .*mkdtemp '\/nonexistent\/linkbal-test\/.*LINKBAL_DEBUG=1/);
    expect(lineCount(r.stderr), r.stderr).toBe(1);

    const debug = await closedAfter(node, args, Infinity, { ...env, LINKBAL_DEBUG: '1' });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^linkbal-gen: internal error: .*mkdtemp/);
    expect(debug.stderr).toMatch(/^\s+at .*buildSitePackage/m);
    expect(existsSync(deb)).toBe(false);
  });
});
