// --weight auto on a real kernel: uplinks shaped to 40, 20 and 10 Mbit/s, equal starting
// weights; the learner must find 4:2:1 from what each link delivers, and follow a link whose
// rate changes. For each backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { cli } from '../helpers.js';

const HOSTS = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];

describe.each(['iptables', 'nftables'] as const)('learned weights with the %s backend', (backend) => {
  let lab: Lab;
  // the weights once the learner has seen the links idle again: their capacities, 1-20
  const weights = () => {
    lab.execOk(['sh', '-c', 'sleep 0.6']);
    const s = lab.execOk(['/etc/linkbal/rules', 'status']).stdout;
    const w = (name: string) => Number(new RegExp(`^${name}\\s+up\\s+\\S+\\s+(\\d+)`, 'm').exec(s)?.[1]);
    return { wan0: w('default'), wan1: w('wan1'), wan2: w('wan2'), status: s };
  };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, rate: { wan0: '40mbit', wan1: '20mbit', wan2: '10mbit' } });
    const r = await cli(['--iface', 'wan1', '--gw', '10.1.1.1', '--weight', 'auto', '--iface', 'wan2', '--gw', '10.1.2.1',
      '--weight', 'auto', '--probe', '203.0.113.1', '--probe', '203.0.113.2', '--backend', backend, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
    for (const i of ['wan0', 'wan1', 'wan2']) lab.ifup(i);
  });
  afterAll(() => lab?.destroy());

  it('starts equal and learns 4:2:1 from what the links deliver', () => {
    const start = weights();
    expect([start.wan0, start.wan1, start.wan2], start.status).toEqual([1, 1, 1]);
    const d = lab.download(1_000_000, 24, 6, { hosts: HOSTS });
    expect(d.errors).toBe(0);
    const w = weights();
    expect(w.wan0, w.status).toBe(20);
    expect(w.wan1, w.status).toBeGreaterThanOrEqual(9);
    expect(w.wan1, w.status).toBeLessThanOrEqual(12);
    expect(w.wan2, w.status).toBeGreaterThanOrEqual(4);
    expect(w.wan2, w.status).toBeLessThanOrEqual(7);
  });

  it('follows a link whose rate drops', () => {
    const rate = (r: string) =>
      lab.netexec('isp1', ['tc', 'qdisc', 'change', 'dev', 'tohost', 'root', 'tbf', 'rate', r, 'burst', '64kb', 'latency', '100ms']);
    rate('4mbit');
    try {
      for (let round = 0; round < 6 && weights().wan1 > 3; round++) lab.download(1_000_000, 24, 6, { hosts: HOSTS });
      const w = weights();
      expect(w.wan1, w.status).toBeLessThanOrEqual(3);
      expect(w.wan1, w.status).toBeLessThan(w.wan2);
    } finally {
      rate('20mbit');
    }
  });

  it('runs one learner, and stops learning with rules stop', () => {
    const learners = () => lab.programs('/etc/linkbal/learner').length;
    expect(learners()).toBe(1);
    // another start while one runs (it holds its lock) starts none
    lab.execOk(['/etc/linkbal/rules', 'restart']);
    expect(learners()).toBe(1);
    lab.execOk(['/etc/linkbal/rules', 'stop']);
    // the loop ends within one step
    for (let k = 0; k < 20 && learners() > 0; k++) lab.execOk(['sleep', '0.1']);
    expect(learners()).toBe(0);
  });
});
