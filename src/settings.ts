// Raw settings: what the command line and the config file said, in order, with where each
// value came from, and the Problem type every stage reports bad input with. Nothing here is
// validated; validate.ts turns Settings into a Plan.

export interface Value {
  value: string;
  where: string; // "--gw #2" or "/etc/linkbal/linkbal.conf:7: gw"
}

/** What is wrong with the input, and where it was given (a Value's where, a flag, or
 *  file:line): config.ts and validate.ts report these, main.ts prints them (exit 2). */
export interface Problem { where: string; message: string }

export interface RawLink {
  iface: Value;
  gw?: Value;
  gw6?: Value;
  weight?: Value;
  tier?: Value;
  extra: Value[]; // a second --gw, --gw6, --weight or --tier for the same --iface
}

export interface Settings {
  links: RawLink[];
  orphans: Value[]; // --gw, --gw6, --weight or --tier before any --iface
  defaultWeight?: Value;
  defaultTier?: Value;
  mode?: Value;
  backend?: Value;
  flushOnDown?: Value;
  bypassDst: Value[];
  bypassPort: Value[];
  lan: Value[];
  probe: Value[];
  markMask?: Value;
  pref?: Value;
  tableBase?: Value;
}

/** The keys of a setting, as flags without "--" and as config-file words. */
export const KEYS = [
  'iface', 'gw', 'gw6', 'weight', 'tier', 'default-weight', 'default-tier', 'mode', 'backend',
  'bypass-dst', 'bypass-port', 'lan', 'flush-on-down', 'probe', 'mark-mask', 'pref', 'table-base',
] as const;
export type Key = (typeof KEYS)[number];

export function emptySettings(): Settings {
  return { links: [], orphans: [], bypassDst: [], bypassPort: [], lan: [], probe: [] };
}

/** Add one setting in the order it was given: --gw, --gw6, --weight and --tier belong to the last --iface. */
export function addSetting(s: Settings, key: Key, v: Value): void {
  const last = s.links[s.links.length - 1];
  switch (key) {
    case 'iface': s.links.push({ iface: v, extra: [] }); break;
    case 'gw':
    case 'gw6':
    case 'weight':
    case 'tier':
      if (!last) s.orphans.push(v);
      else if (last[key]) last.extra.push(v);
      else last[key] = v;
      break;
    case 'default-weight': s.defaultWeight = v; break;
    case 'default-tier': s.defaultTier = v; break;
    case 'mode': s.mode = v; break;
    case 'backend': s.backend = v; break;
    case 'flush-on-down': s.flushOnDown = v; break;
    case 'bypass-dst': s.bypassDst.push(v); break;
    case 'bypass-port': s.bypassPort.push(v); break;
    case 'lan': s.lan.push(v); break;
    case 'probe': s.probe.push(v); break;
    case 'mark-mask': s.markMask = v; break;
    case 'pref': s.pref = v; break;
    case 'table-base': s.tableBase = v; break;
  }
}

/** Command-line settings over the config file's: a single value replaces the file's, and a
 *  list given on the command line (links, bypasses, LANs, probes) replaces the file's whole list. */
export function overlay(file: Settings, cli: Settings): Settings {
  const hasLinks = cli.links.length > 0 || cli.orphans.length > 0;
  return {
    links: hasLinks ? cli.links : file.links,
    orphans: hasLinks ? cli.orphans : file.orphans,
    defaultWeight: cli.defaultWeight ?? file.defaultWeight,
    defaultTier: cli.defaultTier ?? file.defaultTier,
    mode: cli.mode ?? file.mode,
    backend: cli.backend ?? file.backend,
    flushOnDown: cli.flushOnDown ?? file.flushOnDown,
    bypassDst: cli.bypassDst.length ? cli.bypassDst : file.bypassDst,
    bypassPort: cli.bypassPort.length ? cli.bypassPort : file.bypassPort,
    lan: cli.lan.length ? cli.lan : file.lan,
    probe: cli.probe.length ? cli.probe : file.probe,
    markMask: cli.markMask ?? file.markMask,
    pref: cli.pref ?? file.pref,
    tableBase: cli.tableBase ?? file.tableBase,
  };
}
