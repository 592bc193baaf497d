// The bypassed ports in iptables' syntax: multiport takes at most 15 ports a rule, a range
// counting two, and writes ranges as LOW:HIGH. One entry per rule.
import type { Plan } from '../model.js';

export function iptablesPorts(plan: Plan): { proto: string; ports: string }[] {
  const portRules: { proto: string; ports: string }[] = [];
  for (const b of plan.bypassPorts) {
    let chunk: string[] = [];
    let used = 0;
    for (const r of b.ranges) {
      const cost = r.from === r.to ? 1 : 2;
      if (used + cost > 15) {
        portRules.push({ proto: b.proto, ports: chunk.join(',') });
        chunk = [];
        used = 0;
      }
      chunk.push(r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`);
      used += cost;
    }
    portRules.push({ proto: b.proto, ports: chunk.join(',') });
  }
  return portRules;
}
