// The config file: the command line's settings, one or more "key value" pairs a line,
// "#" to the end of a line a comment. linkbal-gen saves what it used as
// /etc/linkbal/linkbal.conf; `--config` on that file gives the same files byte for byte.
import { KEYS, type Key, type Problem, type Settings, addSetting, emptySettings } from './settings.js';
import { type Plan, hasInet6, hex, weightText } from './model.js';
import { VERSION } from './version.js';

export function parseConfig(text: string, file: string): { settings: Settings; problems: Problem[] } {
  const settings = emptySettings();
  const problems: Problem[] = [];
  text.split('\n').forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const words = raw.replace(/#.*/, '').split(/[ \t\r]+/).filter((w) => w !== '');
    if (words.length % 2 !== 0) {
      problems.push({ where, message: `"${words[words.length - 1]}" has no value (each setting is "key value")` });
      return;
    }
    for (let k = 0; k < words.length; k += 2) {
      const key = words[k] as string;
      if (!(KEYS as readonly string[]).includes(key)) {
        problems.push({ where, message: `unknown setting "${key}" (known: ${KEYS.join(', ')})` });
        continue;
      }
      addSetting(settings, key as Key, { value: words[k + 1] as string, where: `${where}: ${key}` });
    }
  });
  return { settings, problems };
}

export function formatConfig(plan: Plan): string {
  const lines = [
    `# /etc/linkbal/linkbal.conf: linkbal's settings, saved by linkbal-gen ${VERSION}.`,
    '# To change them, edit this file and run: linkbal-gen --config /etc/linkbal/linkbal.conf',
    '# Each line holds settings as "key value", the flags of linkbal-gen(1) without "--".',
    '',
    '# backend: nftables or iptables; mode: nth (round robin), least (the least loaded; nftables), random or hash (by destination)',
    `backend ${plan.backend}`,
    `mode ${plan.mode}`,
    '# share of the default link (the main routing table); 0: only when no uplink is up',
    `default-weight ${plan.defaultWeight}`,
    '# failover tier of the default link, 1-9: 1 primary, higher a backup',
    `default-tier ${plan.defaultTier}`,
    '# yes: when a link goes down, drop its connections so clients retry on a live link',
    `flush-on-down ${plan.flushOnDown ? 'yes' : 'no'}`,
    '# what linkbal uses of the kernel, to share it with other tools: the bits of the packet',
    '# and conntrack marks (one run of bits), its first ip rule priority, its routing tables',
    '# (table-base + 2 for the first uplink)',
    `mark-mask ${hex(plan.markMask)}`,
    `pref ${plan.pref}`,
    `table-base ${plan.tableBase}`,
    '',
    '# uplinks: interface, gateway (IPv4 address or dhcp), weight (1-1000, or auto: learned),',
    '# failover tier (1-9: 1 primary, higher a backup)',
    ...(hasInet6(plan) ? ['# gw6: its IPv6 next hop, or auto (the router of its router advertisements); without it, its IPv6 is left alone'] : []),
    ...plan.links.map((l) => `iface ${l.iface} gw ${l.gw}${l.gw6 ? ` gw6 ${l.gw6}` : ''} weight ${weightText(plan, l)} tier ${l.tier}`),
    '',
    '# addresses each link pings through itself to tell whether it works, each in its own',
    '# family (IPv6 ones for the links that balance IPv6); none: no tracking',
    ...(plan.probes.length || plan.probes6.length ? [...plan.probes, ...plan.probes6].map((p) => `probe ${p}`) : ['probe none']),
  ];
  if (plan.bypassDst.length || plan.bypassDst6.length || plan.bypassPorts.length) {
    lines.push('', '# connections that always use the default link');
    lines.push(...[...plan.bypassDst, ...plan.bypassDst6].map((d) => `bypass-dst ${d}`));
    lines.push(...plan.bypassPorts.map((p) => `bypass-port ${p.proto}/${p.spec}`));
  }
  if (plan.lan.length) {
    lines.push('', '# LAN interfaces whose forwarded connections are balanced too');
    lines.push(...plan.lan.map((l) => `lan ${l}`));
  }
  return lines.join('\n') + '\n';
}
