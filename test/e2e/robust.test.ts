// Never break the network: parallel hooks, hooks killed part-way, faults, established
// connections, and the bare environments ifupdown and ifupdown2 give hooks. For each backend.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const BACKENDS = ['iptables', 'nftables'] as const;
const LINKS = ['wan1', 'wan2', 'wan3'];
const ARGS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', '10.1.2.1', '--iface', 'wan3', '--gw', '10.1.3.1'];
const PROBES = ['--probe', '203.0.113.1', '--probe', '203.0.113.2'];

/** linkbal's part of the kernel state: netfilter (counters stripped), ip rules, its tables. */
const DUMP = `nft -s list ruleset; iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; ip rule;
  ip route show table all | grep ' table ' | grep -v -e 'table local' -e 'table main'; true`;
const NETFILTER = `nft -s list ruleset; iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'`;

describe.each(BACKENDS)('robustness with the %s backend', (backend) => {
  let lab: Lab;
  const render = async (...more: string[]) => {
    const r = await cli([...EXACT, ...ARGS, ...PROBES, '--backend', backend, ...more, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
  };
  const sh = (script: string) => lab.execOk(['sh', '-c', script]);
  const dump = () => sh(DUMP).stdout;
  const upAll = () => { for (const l of LINKS) lab.ifup(l); };
  const downAll = () => { for (const l of LINKS) lab.ifdown(l); };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 4, rate: { wan0: '20mbit', wan1: '20mbit', wan2: '20mbit', wan3: '20mbit' } });
    lab.ifup('wan0');
    await render();
  });
  // whatever a test did, and however it ended: the base settings, every link up, the rules
  // loaded afresh, so that one failure stays one failure
  afterEach(async () => {
    await render();
    for (const l of ['wan0', ...LINKS]) lab.ifup(l);
    sh('/etc/linkbal/rules restart');
  });
  afterAll(() => lab?.destroy());

  it('ends parallel ifup/ifdown rounds in the state of the same steps run one by one', () => {
    upAll();
    const allUp = dump();
    downAll();
    const allDown = dump();
    upAll();
    lab.ifdown('wan2');
    const twoUp = dump();
    for (let round = 0; round < 3; round++) {
      sh(`for i in ${LINKS.join(' ')}; do ifdown $i & done; wait`);
      expect(dump(), `round ${round}: parallel ifdown`).toBe(allDown);
      sh(`for i in ${LINKS.join(' ')}; do ifup $i & done; wait`);
      expect(dump(), `round ${round}: parallel ifup`).toBe(allUp);
      sh('ifdown wan2 & ifdown wan3 & wait; ifup wan3 & ifdown wan1 & wait; ifup wan1');
      expect(dump(), `round ${round}: mixed`).toBe(twoUp);
      lab.ifup('wan2');
    }
    expect(dump()).toBe(allUp);
  });

  it('leaves the old or the new ruleset, never a mix, when the hook is killed at any point', () => {
    upAll();
    const withAll = sh(NETFILTER).stdout;
    sh('/etc/linkbal/rules down wan3'); // still configured, as ifup leaves it for the hook
    const without = sh(NETFILTER).stdout;
    const seen = new Set<string>();
    // every 3 ms up to 60, and on until the load was hit at least once on a slow machine
    for (let ms = 0; ms <= 60 || (seen.size < 2 && ms <= 600); ms += 3) {
      // up, killed after ms milliseconds; then the state of the kernel's netfilter
      sh(`/etc/linkbal/rules up wan3 & pid=$!; sleep ${ms / 1000}; kill -9 $pid 2>/dev/null; wait $pid; true`);
      const now = sh(NETFILTER).stdout;
      expect([withAll, without], `killed after ${ms} ms`).toContain(now);
      seen.add(now === withAll ? 'new' : 'old');
      sh('/etc/linkbal/rules down wan3');
    }
    sh('/etc/linkbal/rules up wan3');
    // the kill landed both before and after the load at least once
    expect([...seen].sort()).toEqual(['new', 'old']);
  });

  it('keeps ifup and ifdown working, and logs why, when the backend binary is missing', () => {
    upAll();
    const before = sh(NETFILTER).stdout;
    const binary = backend === 'nftables' ? 'nft' : 'iptables-restore';
    // a private mount namespace: the binary is an empty file for these commands only
    const r = lab.exec(['sh', '-c', `mount --bind /dev/null "$(command -v ${binary})" && ifdown wan2 && ifup wan2`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/linkbal: .*previous one stays/);
    expect(sh(NETFILTER).stdout).toBe(before);
    // the cause gone, the next event balances again
    lab.ifdown('wan2');
    lab.ifup('wan2');
    expect(Object.keys(lab.connections(8).counts).sort()).toEqual(['wan0', 'wan1', 'wan2', 'wan3']);
  });

  it('keeps ifup working when the gateway is unreachable, and uses the link once it is right', async () => {
    lab.ifdown('wan3');
    const r0 = await cli([...EXACT, ...ARGS.slice(0, -2), '--gw', '10.9.9.9', ...PROBES, '--backend', backend, '--root', lab.root]);
    expect(r0.code, r0.stderr).toBe(0); // wan3 with a gateway outside its network
    const r = lab.exec(['ifup', 'wan3']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/linkbal: wan3: could not be brought into balancing/);
    expect(Object.keys(lab.connections(8).counts).sort()).toEqual(['wan0', 'wan1', 'wan2']);
    lab.ifdown('wan3');
    await render();
    lab.ifup('wan3');
    expect(Object.keys(lab.connections(8).counts).sort()).toEqual(['wan0', 'wan1', 'wan2', 'wan3']);
  });

  it('leaves transfers on other links untouched when a link goes down and comes back', () => {
    upAll();
    const out = sh(`for i in 1 2 3 4; do
        curl -s -o /dev/null -m 5 -w '%{size_download} %header{x-client}\\n' http://203.0.113.1:8080/bytes/4000000 &
      done
      sleep 0.5; ifdown wan3; ifup wan3; wait`).stdout;
    const rows = out.trim().split('\n').map((l) => l.split(' '));
    // one download per link (nth over four equal links); the three on wan0-2 complete whole
    const others = rows.filter(([, client]) => /^10\.1\.[012]\./.test(client ?? ''));
    expect(others.map(([, c]) => c).sort(), out).toEqual(['10.1.0.2', '10.1.1.2', '10.1.2.2']);
    for (const [size, client] of others) expect(size, client).toBe('4000000');
  });

  it('--flush-on-down drops the downed link\'s connections at once', async () => {
    await render('--flush-on-down');
    lab.ifdown('wan1');
    lab.ifup('wan1');
    // the connections of a link, by its mark as the rules script knows it
    const count = (link: string) => Number(sh(`LB_SOURCED=1; . /etc/linkbal/rules
      conntrack -L -m "$(lb_mark_of ${link})" 2>/dev/null | wc -l`).stdout);
    lab.connections(8);
    expect(count('wan1')).toBeGreaterThan(0);
    lab.ifdown('wan1');
    expect(count('wan1')).toBe(0);
    expect(count('default')).toBeGreaterThan(0);
    lab.ifup('wan1');
    await render();
  });

  it('runs from the bare environments of ifupdown and ifupdown2, and ignores what is not its own', () => {
    sh('/etc/linkbal/rules down wan1'); // configured, but out of linkbal: as a hook finds it
    const hook = (dir: string, env: string) => lab.exec(['sh', '-c', `env -i ${env} /etc/network/${dir}/linkbal`]);
    // the links as linkbal holds them: state, gateway, weight, share (the connections and
    // bytes move as conntrack lets older ones go, and so do the health section's figures)
    const state = () => sh('/etc/linkbal/rules status').stdout.replace(/\nhealth \([^]*$/, '')
      .split('\n').map((l, i) => (i === 0 ? l : l.split(/\s+/).slice(0, 5).join(' '))).join('\n');
    const before = state();
    for (const env of ['IFACE=wan1 MODE=start ADDRFAM=inet6', 'IFACE=--all MODE=start ADDRFAM=meta METHOD=none',
      'IFACE=lo MODE=start ADDRFAM=inet METHOD=loopback', 'IFACE=eth7 MODE=start ADDRFAM=inet', 'IFACE=wan1 MODE=stop ADDRFAM=inet']) {
      const r = hook('if-up.d', env);
      expect(r.status, env).toBe(0);
      expect(r.stdout + r.stderr, env).toBe('');
      expect(state(), env).toBe(before);
    }
    // ifupdown2: "inet,inet6", no VERBOSITY, no PATH
    const up = hook('if-up.d', 'IFACE=wan1 LOGICAL=wan1 MODE=start PHASE=post-up ADDRFAM=inet,inet6 METHOD=static');
    expect(up.status).toBe(0);
    expect(up.stdout + up.stderr).toBe('');
    expect(state()).toMatch(/^wan1\s+up/m);
    // ifup -v: the hook traces itself (VERBOSITY=1), as Debian's own hooks do
    const traced = hook('if-up.d', 'IFACE=wan1 MODE=start ADDRFAM=inet METHOD=static VERBOSITY=1');
    expect(traced.status).toBe(0);
    expect(traced.stderr).toMatch(/^\+ \/etc\/linkbal\/rules up wan1$/m);
    const down = hook('if-down.d', 'IFACE=wan1 MODE=stop PHASE=pre-down ADDRFAM=inet6,inet METHOD=static');
    expect(down.status).toBe(0);
    expect(state()).toMatch(/^wan1\s+down/m);
    sh('/etc/linkbal/rules up wan1');
  });

  it('keeps its state and lock under /run/linkbal, root-owned, nothing world-writable', () => {
    const r = sh('stat -c "%U %a %n" /run/linkbal /run/linkbal/* /run/linkbal/up/* /etc/linkbal/* /etc/network/if-*.d/linkbal');
    for (const line of r.stdout.trim().split('\n')) {
      const [owner, mode] = line.split(' ');
      expect(owner, line).toBe('root');
      expect(Number.parseInt(mode as string, 8) & 0o022, line).toBe(0);
    }
    expect(sh('grep -l /tmp /etc/linkbal/rules /etc/network/if-*.d/linkbal || true').stdout).toBe('');
  });

  it('tolerates a device that is gone before ifdown runs', () => {
    upAll();
    // unplugged: the device disappears; ifdown then runs the hook for it
    sh('ip link del wan3');
    const r = lab.exec(['sh', '-c', 'IFACE=wan3 LOGICAL=wan3 MODE=stop PHASE=pre-down ADDRFAM=inet METHOD=static /etc/network/if-down.d/linkbal']);
    expect(r.status).toBe(0);
    const s = sh('/etc/linkbal/rules status').stdout;
    expect(s).toMatch(/^wan3\s+down/m);
    expect(sh('ip -N rule').stdout).not.toContain('lookup 104');
    expect(sh('ip rule').stdout).not.toContain('lookup linkbal-wan3');
    expect(Object.keys(lab.connections(6).counts).sort()).toEqual(['wan0', 'wan1', 'wan2']);
  });
});
