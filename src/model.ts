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
  /** --weight auto: weights learned from what each link delivers (weight fields are the start) */
  readonly auto: boolean;
  readonly mode: Mode;
  readonly backend: Backend;
  readonly flushOnDown: boolean;
  readonly bypassDst: readonly string[]; // canonical "a.b.c.d/n"
  readonly bypassPorts: readonly BypassPorts[];
  readonly lan: readonly string[];
}

/** A link's weight as the config file and the site package's description write it. */
export function weightText(plan: Plan, link: Link): string {
  return plan.auto ? 'auto' : String(link.weight);
}

export const MAX_LINKS = 32;
export const TABLE_BASE = 100; // link with mark M uses routing table TABLE_BASE + M
