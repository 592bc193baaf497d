// Plan -> files. Pure: reads the templates, returns paths, modes and contents, prints nothing.
import Handlebars from 'handlebars';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { type Plan, hasInet6, hex } from './model.js';
import { formatConfig } from './config.js';
import { iptablesPorts } from './backends/iptables.js';
import { nftablesPorts } from './backends/nftables.js';
import { VERSION } from './version.js';

export interface RenderedFile {
  path: string; // relative to the root, like "etc/linkbal/rules"
  mode: number;
  content: string;
}

/** POSIX shell quoting: integers bare, everything else in single quotes (each ' as '\\''),
 *  so that no word reads as a command either (MODE=hash). */
export function shq(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v !== 'string') throw new Error(`shq: expected a string, got ${typeof v}`);
  if (v.includes('\0')) throw new Error('shq: NUL cannot be quoted');
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

function templatesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'templates'), path.join(here, '..', 'templates')]) {
    if (existsSync(path.join(dir, 'rules.sh.hbs'))) return dir;
  }
  throw new Error(`templates not found next to ${here}`);
}

function compiler() {
  const hb = Handlebars.create();
  hb.registerHelper('shq', shq);
  const dir = templatesDir();
  const read = (name: string) => readFileSync(path.join(dir, name), 'utf8');
  const compile = (name: string) =>
    hb.compile(read(name), { noEscape: true, strict: true, knownHelpers: { shq: true }, knownHelpersOnly: true });
  return { read, compile };
}

/** The names of linkbal's routing tables, which `ip rule` and `ip route` print (iproute2
 *  reads /etc/iproute2/rt_tables.d/*.conf). */
export const RT_TABLES = 'etc/iproute2/rt_tables.d/linkbal.conf';

function rtTables(plan: Plan): string {
  return `# linkbal's routing tables, one per uplink (written by linkbal-gen ${VERSION}; see /etc/linkbal/linkbal.conf)\n` +
    plan.links.map((l) => `${l.table} linkbal-${l.iface}\n`).join('');
}

/** The static runtime, in the order the rules script defines it (the dispatcher last). */
const RULES_LIB = ['state', 'weights', 'links', 'inet6', 'health', 'status', 'main'];

export function render(plan: Plan): RenderedFile[] {
  const { read, compile } = compiler();
  const lib = (names: string[]) => names.map((n) => read(`lib/${n}.sh`)).join('\n');
  const lines = (rows: string[]) => (rows.length ? `\n${rows.join('\n')}\n` : '');
  const view = {
    version: VERSION,
    backend: plan.backend,
    mode: plan.mode,
    defaultWeight: plan.defaultWeight,
    flushOnDown: plan.flushOnDown ? 1 : 0,
    defaultTier: plan.defaultTier,
    probeList: plan.probes.join(' '),
    probe6List: plan.probes6.join(' '),
    markMask: hex(plan.markMask),
    pref: plan.pref,
    auto: plan.auto ? 1 : 0,
    linksTable: lines(plan.links.map((l) => `${l.iface} ${l.gw} ${l.weight} ${l.mark} ${l.table} ${l.tier}`)),
    lanList: plan.lan.join(' '),
    bypassDstList: plan.bypassDst.join(' '),
    inet6: hasInet6(plan),
    links6Table: lines(plan.links.filter((l) => l.gw6).map((l) => `${l.iface} ${l.gw6}`)),
    bypassDst6List: plan.bypassDst6.join(' '),
    bypassPortsTable: lines((plan.backend === 'iptables' ? iptablesPorts(plan) : nftablesPorts(plan))
      .map((p) => `${p.proto} ${p.ports}`)),
    lib: lib([...RULES_LIB.slice(0, -1), plan.backend, ...RULES_LIB.slice(-1)]),
  };
  const hook = compile('hook.sh.hbs');
  const inet6 = hasInet6(plan);
  const ifaceCase = plan.links.map((l) => shq(l.iface)).join(' | ');
  const dhcpCase = plan.links.filter((l) => l.gw === 'dhcp').map((l) => shq(l.iface)).join(' | ');
  return [
    { path: 'etc/network/if-up.d/linkbal', mode: 0o755, content: hook({ ifaceCase, inet6, mode: 'start', action: 'up', command: 'ifup', inout: 'into', dir: 'if-up.d' }) },
    { path: 'etc/network/if-down.d/linkbal', mode: 0o755, content: hook({ ifaceCase, inet6, mode: 'stop', action: 'down', command: 'ifdown', inout: 'out of', dir: 'if-down.d' }) },
    { path: 'etc/dhcp/dhclient-enter-hooks.d/linkbal', mode: 0o755, content: compile('dhclient.sh.hbs')({ version: VERSION, dhcpCase }) },
    { path: 'etc/linkbal/rules', mode: 0o755, content: compile('rules.sh.hbs')(view) },
    { path: 'etc/linkbal/learner', mode: 0o755, content: compile('learner.sh.hbs')({ version: VERSION, lib: lib(['learner']) }) },
    { path: 'etc/linkbal/tracker', mode: 0o755, content: compile('tracker.sh.hbs')({ version: VERSION, lib: lib(['tracker']) }) },
    { path: 'etc/linkbal/guard', mode: 0o755, content: compile('guard.sh.hbs')({ version: VERSION, lib: lib(['guard']) }) },
    { path: 'etc/linkbal/linkbal.conf', mode: 0o644, content: formatConfig(plan) },
    { path: RT_TABLES, mode: 0o644, content: rtTables(plan) },
  ];
}
