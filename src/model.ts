// The plan: validated, ready data that the templates print (the types, and the constants
// they need). validate.ts fills it in. Each link has a number K (the default link 1, the
// listed links 2.. in the order given), its mark K times the lowest bit of the mark mask
// (--mark-mask: linkbal's bits of the packet and conntrack marks), its routing table
// tableBase + K, and its ip rule priorities pref + K (fwmark rule) and FALLBACK + K (the
// fallback rule after main's; FALLBACK=32800 is a constant of the sh runtime in
// templates/lib/links.sh). Priority pref itself holds `lookup main suppress_prefixlength 0`.

export type Mode = 'nth' | 'least' | 'random' | 'hash';
export type Backend = 'iptables' | 'nftables';

export interface Link {
  readonly iface: string;
  readonly gw: string; // dotted IPv4 or "dhcp"
  /** its IPv6 next hop (RFC 5952 text, link-local allowed) or "auto" (the router learned
   *  from router advertisements); "": its IPv6 is left alone (--gw6 not given) */
  readonly gw6: string;
  readonly weight: number;
  readonly number: number; // K: 2.. in the order given (1 is the default link)
  readonly mark: number; // K * the lowest set bit of the mark mask: the link's real mark value
  readonly table: number; // its routing table, tableBase + K
  readonly tier: number; // failover tier, 1 (primary) to MAX_TIER; higher: backups
}

export interface PortRange { readonly from: number; readonly to: number }

export interface BypassPorts {
  readonly proto: 'tcp' | 'udp';
  readonly ranges: readonly PortRange[];
  readonly spec: string; // canonical "21,22,8000-8100"
}

export interface Plan {
  readonly links: readonly Link[];
  readonly defaultWeight: number;
  readonly defaultTier: number; // the default link's failover tier
  /** --weight auto: weights learned from what each link delivers (weight fields are the start) */
  readonly auto: boolean;
  readonly mode: Mode;
  readonly backend: Backend;
  readonly flushOnDown: boolean;
  readonly bypassDst: readonly string[]; // canonical "a.b.c.d/n"
  readonly bypassDst6: readonly string[]; // canonical RFC 5952 "2001:db8::/32"
  readonly bypassPorts: readonly BypassPorts[];
  readonly lan: readonly string[];
  /** dotted IPv4 addresses each link's health tracker pings through it; empty: no tracking */
  readonly probes: readonly string[];
  /** IPv6 addresses (RFC 5952) the trackers of the links' IPv6 sides (--gw6) ping; empty:
   *  those are not tracked */
  readonly probes6: readonly string[];
  /** the bits of the packet and conntrack marks linkbal uses: one run of set bits */
  readonly markMask: number;
  /** the first ip rule priority linkbal uses: pref (main without its default route), pref + K */
  readonly pref: number;
  /** link K uses routing table tableBase + K */
  readonly tableBase: number;
}

/** A mark or mask as the rules script and the config file write it: 0x and lower-case hex. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The lowest set bit of a nonzero mask: link number K has mark K * markUnit(mask). */
export function markUnit(mask: number): number {
  let unit = 1;
  while (mask > 0 && Math.floor(mask / unit) % 2 === 0) unit *= 2;
  return unit;
}

/** Whether linkbal balances IPv6 too: some listed link has --gw6. */
export function hasInet6(plan: Plan): boolean {
  return plan.links.some((l) => l.gw6 !== '');
}

/** A link's weight as the config file and the site package's description write it. */
export function weightText(plan: Plan, link: Link): string {
  return plan.auto ? 'auto' : String(link.weight);
}

export const MAX_LINKS = 32;
export const DEFAULT_TABLE_BASE = 100; // link number K uses routing table DEFAULT_TABLE_BASE + K
export const MAX_TABLE = 2 ** 31 - 1; // the highest routing table linkbal uses
/** Routing tables no link may use: unspec, and the kernel's default, main and local. */
export const RESERVED_TABLES: readonly number[] = [0, 253, 254, 255];
export const DEFAULT_PREF = 1000; // the first ip rule priority: PREF, then PREF + K
export const MAX_PREF = 32765; // the last priority before main's (32766)
/** Bits 24-29: clear of WireGuard's 0xca6c, Tailscale's 0xff0000, kube-proxy's 0x4000 and
 *  0x8000, mwan3's 0x3f00, podman/CNI's 0x2000 and the low bits tc setups use (README,
 *  "Sharing the router"). */
export const DEFAULT_MARK_MASK = 0x3f000000;
export const MAX_TIER = 9; // failover tiers are 1 (primary, the default) to MAX_TIER
export const MAX_PROBES = 8; // per address family

/** The addresses to probe when no --probe is given: well-known anycast DNS resolvers run by
 *  different operators (Cloudflare, Google, Quad9, Cisco OpenDNS), so that no one outage or
 *  policy takes them all; anycast, so each is near from any uplink; each answers ICMP echo.
 *  At least two, so that one dead target never takes a link down. Tests and the lab always
 *  give their own addresses with --probe: they must not depend on reaching the internet. */
export const DEFAULT_PROBES: readonly string[] = ['1.1.1.1', '8.8.8.8', '9.9.9.9', '208.67.222.222'];
/** The same operators' IPv6 resolvers, for the IPv6 sides of links with --gw6 (the rules
 *  script has them only then); in the plan and the config file whenever no --probe is given,
 *  so that a --gw6 added to the config file later is tracked too. */
export const DEFAULT_PROBES6: readonly string[] = ['2606:4700:4700::1111', '2001:4860:4860::8888', '2620:fe::fe', '2620:119:35::35'];
