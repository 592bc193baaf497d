// `linkbal status --json` on a real kernel with real ifupdown: the lab's linkbal command
// (debian/linkbal, as the packages install it) passes it to `rules status --json`; the
// JSON parses, and each field is what the kernel holds: the ruleset, the routes of the
// links' tables, the default route, conntrack's connections and bytes per mark, and the
// trackers' health. With links up and down, for each backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const ARGS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', '10.1.2.1', '--weight', '2', '--tier', '2',
  '--iface', 'wan3', '--gw', '10.1.3.1', '--probe', '203.0.113.1', '--probe', '203.0.113.2'];

interface Link {
  name: string; state: string; gateway: string | null; device: string | null; weight: number; share: number;
  connections: number; bytes: number; tier: number; health: string | null; since: number | null; loss: number | null;
  rtt: number | null; tracker: boolean | null; reason: string | null;
}
interface Status { backend: string; mode: string; started: boolean; loaded: boolean; tracking: boolean; probes: string[]; links: Link[] }

describe.each(['nftables', 'iptables'] as const)('linkbal status --json (%s)', (backend) => {
  let lab: Lab;
  const sh = (script: string) => lab.exec(['sh', '-c', script]);
  /** the JSON, checked by python3's json.tool too; with its exit status */
  const status = (): { json: Status; status: number } => {
    const r = sh('linkbal status --json; echo "exit $?"');
    const [text, exit] = r.stdout.trim().split('\n');
    const py = spawnSync('python3', ['-m', 'json.tool'], { input: text, encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    return { json: JSON.parse(text as string) as Status, status: Number(exit?.replace('exit ', '')) };
  };
  /** per link mark: connections and bytes, from conntrack itself */
  const conntrack = (name: string) => {
    const out = sh(`LB_SOURCED=1; . /etc/linkbal/rules; conntrack -L -o extended -m "$(lb_mark_of ${name})/$MARK_MASK" 2>/dev/null`).stdout;
    const lines = out.split('\n').filter((l) => l.includes('mark='));
    const bytes = lines.reduce((s, l) => s + [...l.matchAll(/bytes=(\d+)/g)].reduce((t, m) => t + Number(m[1]), 0), 0);
    return { connections: lines.length, bytes };
  };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 4 });
    lab.ifup('wan0');
    const r = await cli([...EXACT, ...ARGS, '--backend', backend, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
    for (const i of ['wan1', 'wan2']) lab.ifup(i); // wan3 stays down
  }, 120_000);
  afterAll(() => lab?.destroy());

  it('says what the kernel holds, per link up and down', () => {
    // the trackers have run a while: every link up is tracked, with its first statistics
    const tracked = () => status().json.links.every((l) => l.state !== 'up' || (l.tracker && l.loss !== null));
    for (let i = 0; i < 100 && !tracked(); i++) spawnSync('sleep', ['0.1']);
    const c = lab.connections(30);
    expect(c.errorMessages).toEqual([]);
    const { json, status: exit } = status();
    expect(exit).toBe(0);
    expect(json).toMatchObject({ backend, mode: 'nth', started: true, loaded: true, tracking: true, probes: ['203.0.113.1', '203.0.113.2'] });
    expect(json.links.map((l) => [l.name, l.state])).toEqual([['default', 'up'], ['wan1', 'up'], ['wan2', 'up'], ['wan3', 'down']]);
    // the default link is the main table's default route; the others, their own tables'
    expect(sh('ip -4 route show default table main').stdout).toContain(`via ${json.links[0]?.gateway} dev ${json.links[0]?.device}`);
    for (const l of json.links.slice(1, 3)) {
      expect(sh(`ip -4 route show default table linkbal-${l.name}`).stdout, l.name).toContain(`default via ${l.gateway} dev ${l.device}`);
    }
    expect(json.links[3]).toMatchObject({ gateway: '10.1.3.1', device: 'wan3', share: 0, health: null, rtt: null });
    // weights 1, 1, 2; tiers 1, 1, 2: only tier 1 takes new connections, 1:1
    expect(json.links.map((l) => [l.weight, l.tier])).toEqual([[1, 1], [1, 1], [2, 2], [1, 1]]);
    expect(json.links.map((l) => l.share)).toEqual([50, 50, 0, 0]);
    expect(c.counts).toEqual({ wan0: 15, wan1: 15 });
    // connections and bytes as conntrack counts them by mark
    for (const l of json.links) {
      const k = conntrack(l.name);
      expect(l.connections, l.name).toBe(k.connections);
      expect(l.bytes, l.name).toBe(k.bytes);
    }
    expect(json.links[0]?.connections).toBeGreaterThanOrEqual(15);
    expect(json.links[1]?.bytes).toBeGreaterThan(0);
    // health, from the trackers that probe through each link
    for (const l of json.links.slice(0, 3)) {
      expect(l, l.name).toMatchObject({ health: 'ok', tracker: true, loss: 0 });
      expect(typeof l.rtt, l.name).toBe('number');
      expect(l.rtt as number, l.name).toBeLessThan(100);
    }
  });

  it('follows ifdown, stop and start', () => {
    lab.ifdown('wan1');
    try {
      const { json } = status();
      expect(json.links.map((l) => [l.name, l.state, l.share])).toEqual([['default', 'up', 100], ['wan1', 'down', 0], ['wan2', 'up', 0], ['wan3', 'down', 0]]);
      expect(json.links[1]).toMatchObject({ health: null, tracker: null });
      expect(sh('ip -4 route show default table linkbal-wan1').stdout).toBe('');
    } finally {
      lab.ifup('wan1');
    }
    // stopped: nothing loaded, and linkbal agrees (exit 0); loaded behind its back: exit 1
    sh('linkbal stop');
    const stopped = status();
    expect(stopped.status).toBe(0);
    expect(stopped.json).toMatchObject({ started: false, loaded: false });
    expect(stopped.json.links.slice(1).map((l) => l.state)).toEqual(['down', 'down', 'down']);
    sh('linkbal start');
    expect(status().json).toMatchObject({ started: true, loaded: true });
  });

  it('the linkbal command: usage, root, and a clear word when linkbal-gen has not run', () => {
    expect(sh('linkbal status --yaml').status).toBe(2);
    expect(sh('linkbal').stderr).toMatch(/^usage: linkbal status \[--json\] \| start \| stop \| restart \| reload$/m);
    expect(sh('setpriv --reuid=65534 --regid=65534 --clear-groups linkbal status').status).toBe(4);
    const gone = sh('mv /etc/linkbal/rules /etc/linkbal/rules.away; linkbal status; echo "exit $?"; mv /etc/linkbal/rules.away /etc/linkbal/rules');
    expect(gone.stdout.trim()).toBe('exit 6');
    expect(gone.stderr).toMatch(/\/etc\/linkbal\/rules is missing: nothing to status\. Render it first \(linkbal-gen/);
  });
});
