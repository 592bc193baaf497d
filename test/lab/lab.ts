// TypeScript wrapper around test/lab/lab.sh for vitest (needs root).
//
//   const lab = Lab.create({ uplinks: 3, dhcp: ['wan2'], lan: true });
//   try {
//     // render linkbal into lab.root, then:
//     lab.ifup('wan0'); lab.ifup('wan1');
//     const r = lab.connections(30);          // r.counts = { wan0: 20, wan1: 10 }
//   } finally { lab.destroy(); }
//
// See README.md for the topology.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LAB_SH = path.join(HERE, 'lab.sh');
const CLIENT_JS = path.join(HERE, 'client.js');
const LAB_BASE = process.env.LINKBAL_LAB_BASE ?? '/tmp/linkbal-lab';
const REQUIRED_BINARIES = ['bash', 'ip', 'tc', 'unshare', 'setsid', 'sysctl', 'ifup', 'ifdown', 'dnsmasq', 'dhclient'];
const EXIT_EXISTS = 17;

export interface LabOptions {
  /** number of uplinks wan0..wan{N-1} (default 3) */
  uplinks?: number;
  /** download shaping per uplink, e.g. { wan0: '40mbit', wan1: '20mbit' } */
  rate?: Record<string, string>;
  /** uplinks configured as `inet dhcp` (served by dnsmasq in the ISP ns) */
  dhcp?: string[];
  /** dnsmasq's renewal time (T1) in seconds for the DHCP uplinks, T2 twice that (default: dnsmasq's, half the 10 min lease) */
  renew?: number;
  /** add the lb-NAME-lan namespace (client 10.3.0.2 behind host lan0 10.3.0.1) */
  lan?: boolean;
  /** dual stack: inet6 stanzas (uplink I 2001:db8:1:I::2/64, router ::1), servers at
   *  2001:db8:ff::1-3, the LAN 2001:db8:3::/64 (client ::2) */
  ipv6?: boolean;
  /** uplinks whose IPv6 comes from router advertisements (`inet6 auto`, dnsmasq RA); implies ipv6 */
  ra?: string[];
  /** lab names are this and a counter (default: this process's id and thread, then the counter) */
  prefix?: string;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  /** default 120 s */
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface ConnectionOptions {
  /** default 8080 (TCP; 8081 from the LAN, see LAN_PORT) / 53 (UDP) */
  port?: number;
  udp?: boolean;
  /** run the client in the lan namespace (needs { lan: true }) */
  fromLan?: boolean;
  /** destinations to cycle through, default ['203.0.113.1'] (IPv6: 2001:db8:ff::1-3 with ipv6) */
  hosts?: string[];
  /** connections in flight at once (default 1 = sequential) */
  parallel?: number;
  /** ms before a connection counts as failed (default 5000) */
  timeout?: number;
  /** TCP: open them one after another, each held open until all are (GET /hold) */
  hold?: boolean;
}

/** The server closes first and keeps TIME_WAIT for the host's connections to 8080. A LAN
 *  connection masqueraded onto the same address and port would meet one: the server refuses
 *  its SYN (PAWS), the client resets and sends it again, and that new conntrack entry takes a
 *  second round-robin slot. So LAN clients use a TCP port of their own by default. */
const LAN_PORT = 8081;

export interface ConnectionResult {
  /** uplink per connection, in start order (`wanI`; unknown addresses kept as-is) */
  order: string[];
  counts: Record<string, number>;
  errors: number;
  errorMessages: string[];
}

export interface DownloadResult {
  seconds: number;
  /** bytes per uplink name */
  bytesByUplink: Record<string, number>;
  errors: number;
}

export interface ServerLogEntry {
  proto: 'tcp' | 'udp';
  port: number;
  /** client address as seen by the server (10.1.I.x = uplink wanI) */
  remote: string;
  kind: 'http' | 'udp' | 'ftp-control' | 'ftp-data';
  t: number;
}

/** Map an address seen by the server to the uplink it came through: 10.1.I.x, or
 *  2001:db8:1:I::/64 (I written as decimal digits; 0 compressed away: 2001:db8:1::2). */
export function uplinkOf(addr: string): string {
  const m = /^10\.1\.(\d+)\.\d+$/.exec(addr);
  if (m) return `wan${m[1]}`;
  const m6 = /^2001:db8:1:(?:(\d+):|:)/.exec(addr);
  return m6 ? `wan${m6[1] ?? '0'}` : addr;
}

function childEnv(extra?: Record<string, string>): NodeJS.ProcessEnv {
  const p = process.env.PATH ?? '';
  return {
    ...process.env,
    PATH: `${p}:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin`,
    NODE: process.execPath,
    ...extra,
  };
}

function run(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 120_000,
    env: childEnv(opts.env),
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status ?? 128 + 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function preflight(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('linkbal lab: must run as root (network namespaces, mounts)');
  }
  const missing = REQUIRED_BINARIES.filter((b) => run('sh', ['-c', 'command -v "$1"', 'sh', b]).status !== 0);
  if (missing.length) throw new Error(`linkbal lab: missing binaries: ${missing.join(', ')}`);
}

let counter = 0;
let gcDone = false;
const liveLabs = new Set<Lab>();

// Best-effort cleanup of labs a test forgot to destroy: at process exit and on
// SIGTERM/SIGINT/SIGHUP (vitest stops its fork workers with SIGTERM, then
// SIGKILL after 1 s). Whatever survives is removed by the next `lab.sh gc`.
const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
function destroyAll(): void {
  for (const lab of [...liveLabs]) {
    try {
      lab.destroy();
    } catch {
      // best effort
    }
  }
}
function onSignal(sig: NodeJS.Signals): void {
  destroyAll();
  untrackAll();
  process.kill(process.pid, sig); // re-raise with the default action
}
function trackLab(lab: Lab): void {
  if (liveLabs.size === 0) {
    process.on('exit', destroyAll);
    for (const s of SIGNALS) process.on(s, onSignal);
  }
  liveLabs.add(lab);
}
function untrackLab(lab: Lab): void {
  liveLabs.delete(lab);
  if (liveLabs.size === 0) untrackAll();
}
function untrackAll(): void {
  liveLabs.clear();
  process.removeListener('exit', destroyAll);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
}

function parseJson<T>(what: string, r: RunResult): T {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what} failed (status ${r.status}): ${r.stderr || r.stdout}`);
  }
}

export class Lab {
  readonly name: string;
  /** state dir: server.log, dnsmasq logs, ... */
  readonly state: string;
  /** lab root: etc/network, etc/linkbal, etc/dhcp, etc/iproute2, etc/resolv.conf, run/, var/lib/dhcp/ */
  readonly root: string;
  readonly options: Readonly<LabOptions>;
  private destroyed = false;

  private constructor(name: string, options: LabOptions) {
    this.name = name;
    this.state = path.join(LAB_BASE, name);
    this.root = path.join(this.state, 'root');
    this.options = options;
  }

  static create(opts: LabOptions = {}): Lab {
    preflight();
    if (!gcDone) {
      // clean up labs left behind by killed test runs (owner process dead)
      gcDone = true;
      run('bash', [LAB_SH, 'gc']);
    }
    const args: string[] = [];
    if (opts.uplinks !== undefined) args.push('--uplinks', String(opts.uplinks));
    const rate = Object.entries(opts.rate ?? {}).map(([k, v]) => `${k}=${v}`);
    if (rate.length) args.push('--rate', rate.join(','));
    for (const d of opts.dhcp ?? []) args.push('--dhcp', d);
    if (opts.renew !== undefined) args.push('--renew', String(opts.renew));
    if (opts.lan) args.push('--lan');
    if (opts.ipv6) args.push('--ipv6');
    for (const d of opts.ra ?? []) args.push('--ra', d);
    args.push('--owner', String(process.pid));
    for (let attempt = 0; attempt < 50; attempt++) {
      // [a-z0-9]{1,8}: 4 chars pid, 1 char worker thread, counter
      const prefix = opts.prefix ?? (process.pid % 36 ** 4).toString(36) + (threadId % 36).toString(36);
      const name = prefix + (counter++).toString(36);
      if (name.length > 8) throw new Error('linkbal lab: ran out of lab names');
      const r = run('bash', [LAB_SH, 'create', name, ...args]);
      if (r.status === EXIT_EXISTS) continue;
      if (r.status !== 0) throw new Error(`lab.sh create ${name} failed (status ${r.status}):\n${r.stderr}`);
      const lab = new Lab(name, { ...opts });
      trackLab(lab);
      return lab;
    }
    throw new Error('linkbal lab: could not find a free lab name');
  }

  /** Run in the host namespace with the lab root mounted over /etc/network, /run, ... */
  exec(cmd: string[], opts?: RunOptions): RunResult {
    return run('bash', [LAB_SH, 'exec', this.name, ...cmd], opts);
  }

  /** Like exec() but throws (with stderr) on a non-zero exit status. */
  execOk(cmd: string[], opts?: RunOptions): RunResult {
    const r = this.exec(cmd, opts);
    if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed in lab ${this.name} (status ${r.status}):\n${r.stderr}${r.stdout}`);
    return r;
  }

  /** Run in another lab namespace: 'host' (no mounts), 'ispN', 'net', 'lan'. */
  netexec(ns: string, cmd: string[], opts?: RunOptions): RunResult {
    return run('bash', [LAB_SH, 'netexec', this.name, ns, ...cmd], opts);
  }

  /** Restart the dnsmasq of DHCP uplink IFACE handing out router ADDR (10.1.K.N), which the
   *  ISP then answers on too; dhclient sees it at its next renewal. pool: leases from 10.1.K.pool
   *  on (default 50; another pool refuses the host's address, which binds anew); classless:
   *  option 121 as dnsmasq takes it ('NET/BITS,GW,...'). */
  dhcpRouter(iface: string, addr: string, opts: { pool?: number; classless?: string } = {}): void {
    const args = [LAB_SH, 'router', this.name, iface, addr];
    if (opts.pool !== undefined) args.push('--pool', String(opts.pool));
    if (opts.classless !== undefined) args.push('--classless', opts.classless);
    const r = run('bash', args);
    if (r.status !== 0) throw new Error(`lab.sh router ${iface} ${addr} failed (status ${r.status}):\n${r.stderr}`);
  }

  /** The advertised router of --ra uplink IFACE leaves (router lifetime 0, and the host
   *  drops its route); then ADDR (fe80::N) advertises instead. */
  raRouter(iface: string, addr: string): void {
    const r = run('bash', [LAB_SH, 'ra-router', this.name, iface, addr]);
    if (r.status !== 0) throw new Error(`lab.sh ra-router ${iface} ${addr} failed (status ${r.status}):\n${r.stderr}`);
  }

  /** Wait until no linkbal run holds its lock. A kernel change seen from outside (a link's
   *  table route) can come from a run still loading its ruleset, which resets the turn
   *  counters: traffic sent before it ends would count turns that then start over. */
  settled(): void {
    this.execOk(['flock', '-w', '60', '/run/linkbal/lock', 'true']);
  }

  ifup(iface: string): RunResult {
    return this.execOk(['ifup', iface]);
  }

  ifdown(iface: string): RunResult {
    return this.execOk(['ifdown', iface]);
  }

  /** Open n connections (TCP GET / or UDP probes) to the lab server and report the uplink each one used. */
  connections(n: number, opts: ConnectionOptions = {}): ConnectionResult {
    const args = [process.execPath, CLIENT_JS, '--count', String(n)];
    const port = opts.port ?? (opts.fromLan && !opts.udp ? LAN_PORT : undefined);
    if (port !== undefined) args.push('--port', String(port));
    if (opts.udp) args.push('--udp');
    if (opts.hold) args.push('--hold');
    if (opts.hosts?.length) args.push('--hosts', opts.hosts.join(','));
    if (opts.parallel !== undefined) args.push('--parallel', String(opts.parallel));
    if (opts.timeout !== undefined) args.push('--timeout', String(opts.timeout));
    const r = opts.fromLan ? this.netexec('lan', args) : this.exec(args);
    const raw = parseJson<{ order: string[]; errors: number; errorMessages?: string[] }>('client.js', r);
    const order = raw.order.map(uplinkOf);
    const counts: Record<string, number> = {};
    for (const u of order) counts[u] = (counts[u] ?? 0) + 1;
    return { order, counts, errors: raw.errors, errorMessages: raw.errorMessages ?? [] };
  }

  /** Download /bytes/<bytes> `count` times, `parallel` at a time (for benchmarks); a list of
   *  sizes is a mixed workload, download i taking size i (cycled). */
  download(bytes: number | number[], count: number, parallel: number, opts: { fromLan?: boolean; port?: number; hosts?: string[] } = {}): DownloadResult {
    const args = [process.execPath, CLIENT_JS, '--download', [bytes].flat().join(','), '--count', String(count), '--parallel', String(parallel)];
    const port = opts.port ?? (opts.fromLan ? LAN_PORT : undefined);
    if (port !== undefined) args.push('--port', String(port));
    if (opts.hosts?.length) args.push('--hosts', opts.hosts.join(','));
    const runOpts = { timeoutMs: 900_000 };
    const r = opts.fromLan ? this.netexec('lan', args, runOpts) : this.exec(args, runOpts);
    const raw = parseJson<{ seconds: number; bytesBySource: Record<string, number>; errors: number }>('client.js --download', r);
    const bytesByUplink: Record<string, number> = {};
    for (const [addr, b] of Object.entries(raw.bytesBySource)) bytesByUplink[uplinkOf(addr)] = (bytesByUplink[uplinkOf(addr)] ?? 0) + b;
    return { seconds: raw.seconds, bytesByUplink, errors: raw.errors };
  }

  /** Every flow the server accepted so far (one entry per TCP connection / UDP datagram). */
  serverLog(): ServerLogEntry[] {
    let text = '';
    try {
      text = fs.readFileSync(path.join(this.state, 'server.log'), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ServerLogEntry);
  }

  clearServerLog(): void {
    fs.writeFileSync(path.join(this.state, 'server.log'), '');
  }

  /** The programs `/bin/sh PROGRAM ARGS...` running in the lab's host namespace, one
   *  entry (ARGS, space-joined) per session: setsid gave each its own, so a program's
   *  subshells are not counted again. */
  programs(program: string): string[] {
    const pids = run('ip', ['netns', 'pids', `lb-${this.name}-host`]).stdout.split('\n').filter(Boolean);
    const bySession = new Map<string, string>();
    for (const pid of pids) {
      let cmd: string[];
      let stat: string;
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        continue; // ended meanwhile
      }
      if (cmd[0] !== '/bin/sh' || cmd[1] !== program) continue;
      // after the command's name: state, ppid, process group, session
      const session = stat.replace(/^.*\) /s, '').split(' ')[3] ?? pid;
      bySession.set(session, cmd.slice(2).filter(Boolean).join(' '));
    }
    return [...bySession.values()].sort();
  }

  /** Packets the ISPs dropped because they went to an address outside the lab. */
  strayPackets(): number {
    let n = 0;
    for (let i = 0; i < (this.options.uplinks ?? 3); i++) {
      const r = this.netexec(`isp${i}`, ['nft', 'list', 'table', 'ip', 'labguard']);
      n += Number(/counter packets (\d+)/.exec(r.stdout)?.[1] ?? 0);
      if (!this.dualStack()) continue;
      const r6 = this.netexec(`isp${i}`, ['nft', 'list', 'chain', 'ip6', 'labguard6', 'guard']);
      n += Number(/daddr != 2001:db8::\/32 counter packets (\d+)/.exec(r6.stdout)?.[1] ?? 0);
    }
    return n;
  }

  private dualStack(): boolean {
    return Boolean(this.options.ipv6 || this.options.ra?.length);
  }

  /** IPv6 packets from the host that ISP I dropped for a source outside its 2001:db8:1:I::/64
   *  (another ISP's address leaking out of this uplink). */
  spoofed6(i: number): number {
    const r = this.netexec(`isp${i}`, ['nft', 'list', 'counter', 'ip6', 'labguard6', 'spoofed']);
    const m = /packets (\d+)/.exec(r.stdout);
    if (!m) throw new Error(`isp${i}: no ip6 labguard6 counter: ${r.stderr}`);
    return Number(m[1]);
  }

  /** Tear the lab down; then fail if anything in it sent to an address outside the lab. */
  destroy(): void {
    if (this.destroyed) return;
    const stray = this.strayPackets();
    const r = run('bash', [LAB_SH, 'destroy', this.name]);
    if (r.status !== 0) throw new Error(`lab.sh destroy ${this.name} failed:\n${r.stderr}`);
    this.destroyed = true;
    untrackLab(this);
    if (stray) throw new Error(`lab ${this.name}: ${stray} packets went to addresses outside the lab (10.0.0.0/8, 203.0.113.0/24)`);
  }
}
