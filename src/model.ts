// The plan: validated, ready data that the templates print (the types, and the constants
// they need). validate.ts fills it in: each link's mark (2.. in the order given; the default
// link is 1) and routing table (TABLE_BASE + mark). The ip rule priorities are not in the
// plan: they are constants of the sh runtime in templates/lib/ (PREF=1000 and
// FALLBACK=32800, each plus the mark).

export type Mode = 'nth' | 'random' | 'hash';
export type Backend = 'iptables' | 'nftables';

export interface Link {
  readonly iface: string;
  readonly gw: string; // dotted IPv4 or "dhcp"
  readonly weight: number;
  readonly mark: number; // 2.. (1 is the default link)
  readonly table: number; // its routing table
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
  readonly bypassPorts: readonly BypassPorts[];
  readonly lan: readonly string[];
  /** dotted IPv4 addresses each link's health tracker pings through it; empty: no tracking */
  readonly probes: readonly string[];
}

/** A link's weight as the config file and the site package's description write it. */
export function weightText(plan: Plan, link: Link): string {
  return plan.auto ? 'auto' : String(link.weight);
}

export const MAX_LINKS = 32;
export const TABLE_BASE = 100; // link with mark M uses routing table TABLE_BASE + M
export const MAX_TIER = 9; // failover tiers are 1 (primary, the default) to MAX_TIER
export const MAX_PROBES = 8;

/** The addresses to probe when no --probe is given: well-known anycast DNS resolvers run by
 *  different operators (Cloudflare, Google, Quad9, Cisco OpenDNS), so that no one outage or
 *  policy takes them all; anycast, so each is near from any uplink; each answers ICMP echo.
 *  At least two, so that one dead target never takes a link down. Tests and the lab always
 *  give their own addresses with --probe: they must not depend on reaching the internet. */
export const DEFAULT_PROBES: readonly string[] = ['1.1.1.1', '8.8.8.8', '9.9.9.9', '208.67.222.222'];
