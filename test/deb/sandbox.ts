// A throwaway machine for real apt and dpkg runs: a private mount namespace whose /etc, /usr
// and /var are overlays (upper layers on a tmpfs of that namespace), with its own /run and
// its own network namespace (so rules scripts touch no real rule). The machine's files stay
// as they were. One long-lived holder process keeps the namespaces; each step enters them
// with nsenter. The holder reads stdin and exits at EOF: if the test process dies, the pipe
// closes and the namespaces (and everything written in them) go away with it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Result { status: number; stdout: string; stderr: string }

const SETUP = `
set -eu
d=$1
mount -t tmpfs -o mode=0700,size=2g linkbal-sandbox "$d"
for top in etc usr var; do
	mkdir -p "$d/$top/upper" "$d/$top/work"
	mount -t overlay "linkbal-sandbox-$top" -o "lowerdir=/$top,upperdir=$d/$top/upper,workdir=$d/$top/work" "/$top"
done
mount -t tmpfs -o mode=0755 linkbal-sandbox-run /run
mkdir -p /run/lock
ip link set lo up
echo ready
exec cat >/dev/null
`;

const REQUIRED: [string, string][] = [
  ['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['apt-get', 'apt'], ['dpkg', 'dpkg'], ['ip', 'iproute2'],
];

export const ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  DEBIAN_FRONTEND: 'noninteractive',
  LC_ALL: 'C.UTF-8',
  HOME: '/root',
};

export class Sandbox {
  private constructor(private readonly holder: ChildProcess, private readonly dir: string) {}

  static async create(): Promise<Sandbox> {
    if (process.getuid?.() !== 0) throw new Error('the deb sandbox needs root (mount and network namespaces)');
    for (const [bin, pkg] of REQUIRED) {
      if (spawnSync('sh', ['-c', `command -v ${bin}`], { env: ENV }).status !== 0) {
        throw new Error(`${bin} is missing: install Debian package ${pkg} (make deps)`);
      }
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'linkbal-sandbox-'));
    const holder = spawn('unshare', ['-m', '-n', '--propagation', 'private', 'sh', '-c', SETUP, 'sh', dir],
      { stdio: ['pipe', 'pipe', 'pipe'], env: ENV });
    let out = '';
    let err = '';
    holder.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout?.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('ready\n')) resolve();
        });
        holder.on('exit', (code) => reject(new Error(`sandbox setup failed (exit ${code}): ${err}`)));
        holder.on('error', reject);
      });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return new Sandbox(holder, dir);
  }

  /** sh -c SCRIPT inside the sandbox (its mounts and network), as root, with ENV. */
  run(script: string, env: Record<string, string> = {}): Result {
    if (this.holder.pid === undefined || this.holder.exitCode !== null) throw new Error('sandbox is gone');
    const r = spawnSync('nsenter', ['-t', String(this.holder.pid), '-m', '-n', '--', 'sh', '-c', script], {
      encoding: 'utf8', env: { ...ENV, ...env }, timeout: 300_000, maxBuffer: 256 * 1024 * 1024,
    });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Like run(), but a non-zero exit throws with the output. */
  ok(script: string, env: Record<string, string> = {}): string {
    const r = this.run(script, env);
    if (r.status !== 0) throw new Error(`in the sandbox, exit ${r.status}: ${script}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Every path under /etc, /usr, /var and /run with its type and mode (symlinks with their target). */
  listing(): Set<string> {
    const out = this.ok("find /etc /usr /var /run -xdev -printf '%y %m %p -> %l\\n' | LC_ALL=C sort");
    return new Set(out.split('\n').filter(Boolean));
  }

  async destroy(): Promise<void> {
    const exited = this.holder.exitCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.holder.once('exit', () => resolve()));
    this.holder.stdin?.end();
    const timer = setTimeout(() => this.holder.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
