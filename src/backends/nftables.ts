// The bypassed ports in nftables' syntax: one anonymous set per protocol.
import type { Plan } from '../model.js';

export function nftablesPorts(plan: Plan): { proto: string; ports: string }[] {
  const portSets: { proto: string; ports: string }[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const items = plan.bypassPorts.filter((b) => b.proto === proto).flatMap((b) => b.spec.split(','));
    if (items.length) portSets.push({ proto, ports: [...new Set(items)].join(',') });
  }
  return portSets;
}
