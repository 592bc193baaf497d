// Settings -> Plan, or every problem at once. Each message names the flag (or file:line),
// shows the value, and says what is wrong. IPv6 text is read by ipaddr.js (strict RFC 4291
// forms) and written back in RFC 5952's canonical form.
import ipaddr from 'ipaddr.js';
import type { Problem, Settings, Value } from './settings.js';
import {
  type Backend, type BypassPorts, type Link, type Mode, type Plan, type PortRange,
  DEFAULT_MARK_MASK, DEFAULT_PREF, DEFAULT_PROBES, DEFAULT_PROBES6, DEFAULT_TABLE_BASE, MAX_LINKS, MAX_PREF, MAX_PROBES, MAX_TABLE,
  MAX_TIER, RESERVED_TABLES, hex, markUnit,
} from './model.js';

/** warnings: what is allowed but likely not meant (printed, and the files written) */
export type Result = { ok: true; plan: Plan; warnings: Problem[] } | { ok: false; problems: Problem[] };

/** A value as it can be shown safely in a message: quoted, every byte outside printable
 *  ASCII written as an escape. */
export function show(v: string): string {
  return '"' + v.replace(/[^\x20-\x7e]|["\\]/gu, (c) =>
    c === '"' || c === '\\' ? '\\' + c : '\\u' + (c.codePointAt(0) ?? 0).toString(16).padStart(4, '0'),
  ) + '"';
}

const IFACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const RESERVED_IFACES = new Set(['lo', 'all', 'default']);

export function ifaceProblem(name: string): string | undefined {
  if (!IFACE.test(name)) {
    return 'is not an interface name (1 to 15 of A-Z a-z 0-9 _ . -, not starting with - or .)';
  }
  if (RESERVED_IFACES.has(name)) return 'is reserved (loopback or a sysctl name), not an uplink';
  return undefined;
}

/** Dotted-quad IPv4, four decimal octets without leading zeros (inet_aton reads 010 as 8). */
export function parseIPv4(s: string): number[] | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  return o.every((x) => x <= 255) ? o : undefined;
}

function gatewayProblem(s: string): string | undefined {
  if (s === 'dhcp') return undefined;
  const o = parseIPv4(s);
  if (!o) return 'is not an IPv4 address or "dhcp"';
  const first = o[0] as number;
  if (first === 0 || first === 127 || first >= 224) return 'is not a usable gateway address';
  return undefined;
}

/** An IPv6 address without a zone (%eth1), or undefined. */
function parseIPv6(s: string): ipaddr.IPv6 | undefined {
  if (!ipaddr.IPv6.isValid(s) || s.includes('%')) return undefined;
  return ipaddr.IPv6.parse(s);
}

/** --gw6: "auto", or an IPv6 unicast next hop (link-local allowed: routers usually are). */
function gateway6Problem(s: string): string | undefined {
  if (s === 'auto') return undefined;
  if (s.includes('%')) return 'has a zone (%...): give the address alone, the link\'s interface is its zone';
  const a = parseIPv6(s);
  if (!a) return 'is not an IPv6 address or "auto"';
  if (['unspecified', 'loopback', 'multicast', 'ipv4Mapped'].includes(a.range())) {
    return 'is not a usable IPv6 gateway address (not ::, ::1, multicast ff00::/8 or IPv4-mapped)';
  }
  return undefined;
}

/** --probe: an IPv4 or IPv6 unicast address a link can reach through its uplink; its family
 *  is the address's. */
function probeProblem(s: string): string | undefined {
  if (s.includes(':')) {
    const a = parseIPv6(s);
    if (!a) return 'is not an IPv4 or IPv6 address, or "none"';
    if (['unspecified', 'loopback', 'linkLocal', 'multicast', 'ipv4Mapped'].includes(a.range())) {
      return 'is not a unicast address to probe (not ::, ::1, link-local fe80::/10, multicast ff00::/8 or IPv4-mapped)';
    }
    return undefined;
  }
  const o = parseIPv4(s);
  if (!o) return 'is not an IPv4 or IPv6 address, or "none"';
  const first = o[0] as number;
  if (first === 0 || first === 127 || first >= 224) return 'is not a unicast address to probe (not 0.x, 127.x or 224 and up)';
  return undefined;
}

function parseInteger(s: string, min: number, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
}

export function parseCidr(s: string): { value?: string; problem?: string } {
  if (s.includes(':')) return parseCidr6(s);
  const m = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(s);
  const o = m ? parseIPv4(m[1] as string) : undefined;
  const len = m?.[2] === undefined ? 32 : Number(m[2]);
  if (!m || !o || len > 32 || (m[2] !== undefined && m[2] !== String(len))) {
    return { problem: 'is not an IPv4 address or CIDR prefix (like 192.168.1.0/24)' };
  }
  const addr = o.reduce((a, b) => a * 256 + b, 0);
  const size = 2 ** (32 - len);
  const net = addr - (addr % size);
  if (net !== addr) {
    const n = [24, 16, 8, 0].map((sh) => Math.floor(net / 2 ** sh) % 256).join('.');
    return { problem: `has host bits set; the network is ${n}/${len}` };
  }
  return { value: `${o.join('.')}/${len}` };
}

/** An IPv6 address or prefix ("2001:db8::/32"), in RFC 5952 form; host bits refused. */
export function parseCidr6(s: string): { value?: string; problem?: string } {
  const m = /^([^/]+)(?:\/(0|[1-9]\d{0,2}))?$/.exec(s);
  const a = m ? parseIPv6(m[1] as string) : undefined;
  const len = m?.[2] === undefined ? 128 : Number(m[2]);
  if (!m || !a || len > 128) return { problem: 'is not an IPv6 address or prefix (like 2001:db8::/32)' };
  const net = ipaddr.IPv6.networkAddressFromCIDR(`${a.toString()}/${len}`).toRFC5952String();
  if (net !== a.toRFC5952String()) return { problem: `has host bits set; the network is ${net}/${len}` };
  return { value: `${net}/${len}` };
}

export function parsePorts(s: string): { value?: BypassPorts; problem?: string } {
  const m = /^(tcp|udp)\/(.+)$/.exec(s);
  if (!m) return { problem: 'is not PROTO/PORTS (tcp or udp, like tcp/21,22,8000-8100)' };
  const ranges: PortRange[] = [];
  for (const item of (m[2] as string).split(',')) {
    const r = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(item);
    const from = r ? parseInteger(r[1] as string, 1, 65535) : undefined;
    const to = r?.[2] === undefined ? from : parseInteger(r[2], 1, 65535);
    if (from === undefined || to === undefined || to < from || /^0/.test(item)) {
      return { problem: `has "${item}", not a port 1-65535 or a range LOW-HIGH` };
    }
    ranges.push({ from, to });
  }
  const spec = ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(',');
  return { value: { proto: m[1] as 'tcp' | 'udp', ranges, spec } };
}

const TIER_PROBLEM = `is not a tier (an integer 1-${MAX_TIER}: 1 primary, higher a backup)`;
const MODES: readonly Mode[] = ['nth', 'least', 'random', 'hash'];
const BACKENDS: readonly string[] = ['iptables', 'nftables', 'auto'];

export function validate(s: Settings, autoBackend: () => Backend): Result {
  const problems: Problem[] = [];
  const bad = (v: Value, what: string) => problems.push({ where: v.where, message: `${show(v.value)} ${what}` });

  for (const o of s.orphans) problems.push({ where: o.where, message: 'comes before any --iface (it belongs to the --iface before it)' });
  if (s.links.length === 0) problems.push({ where: '--iface', message: 'at least one uplink is needed: --iface IFACE --gw GATEWAY' });
  if (s.links.length > MAX_LINKS) problems.push({ where: '--iface', message: `${s.links.length} uplinks; at most ${MAX_LINKS}` });

  const seen = new Map<string, string>();
  const unique = (v: Value) => {
    const before = seen.get(v.value);
    if (before !== undefined) bad(v, `is given twice (also at ${before})`);
    else seen.set(v.value, v.where);
  };

  const auto = s.links.some((l) => l.weight?.value === 'auto');
  const links: Link[] = [];
  s.links.forEach((raw, i) => {
    const p = ifaceProblem(raw.iface.value);
    if (p) bad(raw.iface, p);
    else unique(raw.iface);
    for (const e of raw.extra) bad(e, `is a second value for --iface ${show(raw.iface.value)}`);
    if (!raw.gw) {
      problems.push({ where: raw.iface.where, message: `${show(raw.iface.value)} has no --gw (an IPv4 address or dhcp)` });
    } else {
      const g = gatewayProblem(raw.gw.value);
      if (g) bad(raw.gw, g);
    }
    if (raw.gw6) {
      const g = gateway6Problem(raw.gw6.value);
      if (g) bad(raw.gw6, g);
    }
    const given = raw.weight?.value;
    const weight = given === undefined || (auto && given === 'auto') ? 1 : parseInteger(given, 1, 1000);
    if (raw.weight && auto && given !== 'auto') {
      bad(raw.weight, 'is a fixed weight, but another link has --weight auto: learned weights are for every link');
    } else if (weight === undefined && raw.weight) bad(raw.weight, 'is not a weight (an integer 1-1000, or auto)');
    const tier = raw.tier ? parseInteger(raw.tier.value, 1, MAX_TIER) : 1;
    if (tier === undefined && raw.tier) bad(raw.tier, TIER_PROBLEM);
    // mark and table once --mark-mask and --table-base are known, below
    const gw6 = raw.gw6 && raw.gw6.value !== 'auto' ? parseIPv6(raw.gw6.value)?.toRFC5952String() : raw.gw6?.value;
    links.push({ iface: raw.iface.value, gw: raw.gw?.value ?? '', gw6: gw6 ?? '', weight: weight ?? 1, number: i + 2, mark: 0, table: 0, tier: tier ?? 1 });
  });
  // the link numbers: 1 the default link, 2.. the listed ones
  const last = s.links.length + 1;
  const counted = s.links.length > 0 && s.links.length <= MAX_LINKS;

  let markMask = DEFAULT_MARK_MASK;
  if (s.markMask) {
    const v = s.markMask;
    const m = /^0x[0-9a-f]{1,8}$/i.test(v.value) || /^\d{1,10}$/.test(v.value) ? Number(v.value) : NaN;
    if (!(m > 0 && m <= 0xffffffff)) {
      bad(v, 'is not a mark mask (hex like 0x3f000000, or decimal: nonzero, at most 0xffffffff)');
    } else if (!Number.isInteger(Math.log2(m / markUnit(m) + 1))) {
      bad(v, `is not one run of set bits (like ${hex(DEFAULT_MARK_MASK)}): linkbal counts its link numbers in it`);
    } else if (counted && m / markUnit(m) < last) {
      bad(v, `holds link numbers up to ${m / markUnit(m)}; the default link and ${s.links.length} uplink(s) need 1-${last}`);
    } else markMask = m;
  }
  let pref = DEFAULT_PREF;
  if (s.pref) {
    const p = parseInteger(s.pref.value, 1, MAX_PREF);
    if (p === undefined) bad(s.pref, `is not an ip rule priority (an integer 1-${MAX_PREF})`);
    else if (counted && p + last > MAX_PREF) {
      bad(s.pref, `leaves no room: linkbal would use priorities ${p}-${p + last}, which must end by ${MAX_PREF} (main's is 32766)`);
    } else pref = p;
  }
  let tableBase = DEFAULT_TABLE_BASE;
  if (s.tableBase) {
    const t = parseInteger(s.tableBase.value, 0, MAX_TABLE);
    const used = (b: number) => Array.from({ length: last - 1 }, (_, i) => b + i + 2);
    const reserved = t === undefined ? [] : used(t).filter((n) => RESERVED_TABLES.includes(n));
    if (t === undefined) bad(s.tableBase, `is not a routing table base (an integer 0-${MAX_TABLE})`);
    else if (counted && t + last > MAX_TABLE) {
      bad(s.tableBase, `leaves no room: linkbal would use routing tables up to ${t + last}, at most ${MAX_TABLE}`);
    } else if (counted && reserved.length) {
      bad(s.tableBase, `gives the uplinks routing tables ${t + 2}-${t + last}, which include ${reserved.join(', ')} ` +
        '(the kernel\'s default 253, main 254 and local 255)');
    } else tableBase = t;
  }
  const unit = markUnit(markMask);
  const numbered = links.map((l) => ({ ...l, mark: l.number * unit, table: tableBase + l.number }));

  let defaultWeight = 1;
  if (s.defaultWeight) {
    const w = parseInteger(s.defaultWeight.value, 0, 1000);
    if (w === undefined) bad(s.defaultWeight, 'is not a weight (an integer 0-1000)');
    else defaultWeight = w;
  }
  let defaultTier = 1;
  if (s.defaultTier) {
    const t = parseInteger(s.defaultTier.value, 1, MAX_TIER);
    if (t === undefined) bad(s.defaultTier, TIER_PROBLEM);
    else defaultTier = t;
  }
  let mode = s.mode?.value ?? 'nth';
  if (s.mode && !(MODES as readonly string[]).includes(mode)) bad(s.mode, `is not a mode (${MODES.join(', ')})`);
  let backend = s.backend?.value ?? 'auto';
  if (s.backend && !BACKENDS.includes(backend)) bad(s.backend, `is not a backend (${BACKENDS.join(', ')})`);
  let flushOnDown = false;
  if (s.flushOnDown) {
    if (s.flushOnDown.value === 'yes') flushOnDown = true;
    else if (s.flushOnDown.value !== 'no') bad(s.flushOnDown, 'is not yes or no');
  }

  const bypassDst: string[] = [];
  const bypassDst6: string[] = [];
  const inet6 = s.links.find((l) => l.gw6);
  for (const v of s.bypassDst) {
    const r = parseCidr(v.value);
    const list = v.value.includes(':') ? bypassDst6 : bypassDst;
    if (r.problem) bad(v, r.problem);
    else if (list === bypassDst6 && !inet6) {
      bad(v, 'is an IPv6 network, but no --iface has --gw6: linkbal leaves IPv6 alone');
    } else if (r.value !== undefined && !list.includes(r.value)) list.push(r.value);
  }
  const bypassPorts: BypassPorts[] = [];
  for (const v of s.bypassPort) {
    const r = parsePorts(v.value);
    if (r.problem) bad(v, r.problem);
    else if (r.value) bypassPorts.push(r.value);
  }
  const lan: string[] = [];
  for (const v of s.lan) {
    const p = ifaceProblem(v.value);
    if (p) bad(v, p);
    else { unique(v); lan.push(v.value); }
  }

  // each family its own list, of up to MAX_PROBES; an address given twice (in any form) is an error
  const probes: string[] = [];
  const probes6: string[] = [];
  const probed = new Map<string, string>();
  for (const v of s.probe) {
    const p = v.value === 'none' ? undefined : probeProblem(v.value);
    const key = v.value.includes(':') && !p ? (parseIPv6(v.value) as ipaddr.IPv6).toRFC5952String() : v.value;
    const before = probed.get(key);
    if (p) bad(v, p);
    else if (before !== undefined) bad(v, `is given twice (also at ${before})`);
    else {
      probed.set(key, v.where);
      if (v.value === 'none') continue;
      const list = key.includes(':') ? probes6 : probes;
      if (list.length === MAX_PROBES) {
        bad(v, `is one address to probe too many (at most ${MAX_PROBES} ${list === probes6 ? 'IPv6' : 'IPv4'} addresses)`);
      }
      list.push(key);
    }
  }
  const none = s.probe.find((v) => v.value === 'none');
  const address = s.probe.find((v) => v.value !== 'none');
  if (none && address) {
    bad(none, `(no health tracking) cannot go with an address to probe (${address.where}: ${show(address.value)})`);
  }
  const warnings: Problem[] = [];
  if (s.probe.length === 0) {
    probes.push(...DEFAULT_PROBES);
    probes6.push(...DEFAULT_PROBES6);
  } else if (address) {
    // an explicit list replaces both defaults: a family without an address is not tracked
    if (!probes.length) warnings.push({ where: '--probe', message: 'no IPv4 address to probe: the links\' IPv4 sides are not tracked (taken as healthy)' });
    if (!probes6.length && inet6) {
      warnings.push({ where: '--probe', message: 'no IPv6 address to probe: the links\' IPv6 sides (--gw6) are not tracked (taken as healthy)' });
    }
  }

  if (problems.length) return { ok: false, problems };
  if (backend === 'auto') backend = autoBackend();
  // by default each new TCP connection goes to the least loaded link, counted in the kernel,
  // where nftables can (iptables: exact shares by weight, nth)
  if (!s.mode && backend === 'nftables') mode = 'least';
  // least: slots a rule takes and tests in one step, which only nftables' sets offer
  if (mode === 'least' && backend === 'iptables' && s.mode) {
    bad(s.mode, `needs the nftables backend (${s.backend ? `${s.backend.where}: "iptables"` : 'nft is not installed'}): iptables cannot count a link's open connections when a new one comes`);
    return { ok: false, problems };
  }
  return {
    ok: true,
    plan: {
      links: numbered, defaultWeight, defaultTier, auto, mode: mode as Mode, backend: backend as Backend, flushOnDown,
      bypassDst, bypassDst6, bypassPorts, lan, probes, probes6, markMask, pref, tableBase,
    },
    warnings,
  };
}
