// What the nftables templates need beyond the plan: one anonymous set per protocol.
import type { Plan } from '../model.js';

export function nftablesView(plan: Plan) {
  const portSets: { proto: string; set: string }[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const items = plan.bypassPorts.filter((b) => b.proto === proto).flatMap((b) => b.spec.split(','));
    if (items.length) portSets.push({ proto, set: [...new Set(items)].join(', ') });
  }
  return { portSets };
}
