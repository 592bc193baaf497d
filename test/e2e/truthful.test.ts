// Truthful results (issue 11): a failure is a non-zero exit with a message on stderr, never a
// success. `rules stop` whose unload the kernel refuses says so and still takes away the ip
// rules and routes (the default route carries everything); a failed load exits non-zero;
// and with iptables a load is all or nothing across raw, mangle and nat, proven with a
// ruleset the kernel refuses in mangle only (after raw and nat committed).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const BACKENDS = ['iptables', 'nftables'] as const;
const LINKS = ['wan1', 'wan2'];
const ARGS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', '10.1.2.1'];
const PROBES = ['--probe', '203.0.113.1', '--probe', '203.0.113.2'];
/** linkbal's ip rules and routes */
const ROUTING = 'ip rule; ip route show table all | grep linkbal; true';
/** netfilter as the kernel holds it, counters and comments left out */
const NETFILTER = `nft -s list ruleset; iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'`;

describe.each(BACKENDS)('truthful results with the %s backend', (backend) => {
  let lab: Lab;
  const render = async () => {
    const r = await cli([...EXACT, ...ARGS, ...PROBES, '--backend', backend, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
  };
  const sh = (script: string) => lab.execOk(['sh', '-c', script]);
  /** the backend's view of netfilter (iptables-nft may list its base chains in another order) */
  const held = () => sh(backend === 'nftables' ? 'nft -s list ruleset'
    : "iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'").stdout;
  /** the load binary of the backend is an empty file for SCRIPT only (a private mount namespace) */
  const broken = (script: string) =>
    lab.exec(['sh', '-c', `mount --bind /dev/null "$(command -v ${backend === 'nftables' ? 'nft' : 'iptables-restore'})" && ${script}`]);

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3 });
    lab.ifup('wan0');
    await render();
  });
  afterEach(async () => {
    sh('iptables -t mangle -F fw-test 2>/dev/null; iptables -t mangle -X fw-test 2>/dev/null; true');
    await render();
    for (const l of ['wan0', ...LINKS]) lab.ifup(l);
    sh('/etc/linkbal/rules restart');
  });
  afterAll(() => lab?.destroy());

  it('rules stop fails and says so when the kernel keeps the ruleset, and still removes its rules and routes', () => {
    for (const l of LINKS) lab.ifup(l);
    expect(sh(ROUTING).stdout).toContain('lookup linkbal-wan2');
    let r;
    let before;
    if (backend === 'iptables') {
      // a real refusal: someone else's chain goes to linkbal's (-g, which linkbal never
      // deletes), so the kernel keeps linkbal-out ("chain in use") and refuses the mangle
      // part of the unload after raw and nat committed theirs
      sh('iptables -t mangle -N fw-test && iptables -t mangle -A fw-test -g linkbal-out');
      before = held();
      r = lab.exec(['/etc/linkbal/rules', 'stop']);
    } else {
      before = held();
      r = broken('/etc/linkbal/rules stop');
    }
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^linkbal: stop: the kernel kept linkbal's ruleset .*run stop again/m);
    // the ruleset stays whole, in every table: an unload is all or nothing too
    expect(held()).toBe(before);
    // its ip rules and routes are gone all the same; the default route carries everything
    const routing = sh(ROUTING).stdout;
    expect(routing).not.toMatch(/linkbal|suppress_prefixlength/);
    expect(sh('ip route show default').stdout).toMatch(/dev wan0/);
    const c = lab.connections(6);
    expect(c.errorMessages).toEqual([]);
    expect(Object.keys(c.counts)).toEqual(['wan0']);
    // status tells the kernel and linkbal disagree
    const status = lab.exec(['/etc/linkbal/rules', 'status']);
    expect(status.status).toBe(1);
    expect(status.stdout).toMatch(/rules not loaded by linkbal, but the kernel holds a copy/);
    // the cause gone, stop again takes the rest
    sh('iptables -t mangle -F fw-test 2>/dev/null; iptables -t mangle -X fw-test 2>/dev/null; true');
    const again = lab.exec(['/etc/linkbal/rules', 'stop']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toBe('');
    expect(sh(NETFILTER).stdout).not.toContain('linkbal');
  });

  it('a load the kernel does not take exits non-zero with the reason: down, restart', () => {
    for (const l of LINKS) lab.ifup(l);
    const down = broken('/etc/linkbal/rules down wan2');
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/^linkbal: the kernel refused the new ruleset .*the previous one stays$/m);
    const restart = broken('/etc/linkbal/rules restart');
    expect(restart.status).toBe(1);
    expect(restart.stderr).toMatch(/^linkbal: stop: the kernel kept linkbal's ruleset/m);
    expect(restart.stderr).toMatch(/^linkbal: the kernel refused the new ruleset/m);
    // without the fault, the same commands succeed
    expect(lab.exec(['/etc/linkbal/rules', 'restart']).status).toBe(0);
    expect(lab.exec(['/etc/linkbal/rules', 'down', 'wan2']).status).toBe(0);
  });
});

describe('iptables: a load is all or nothing across raw, mangle and nat', () => {
  let lab: Lab;
  const sh = (script: string) => lab.execOk(['sh', '-c', script]);
  /** what the kernel holds in each table, counters and comments left out */
  const tables = () => Object.fromEntries(['raw', 'nat', 'mangle'].map((t) =>
    [t, sh(`iptables-save -t ${t} | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'`).stdout]));
  /** the ruleset loaded last, with a new rule in raw and nat, and BAD in mangle: to FILE */
  const changed = (bad: string, file: string) => sh(`awk -v bad='${bad}' '
    /^\\*/ { t = $1 }
    $1 == "COMMIT" && t == "*raw" { print "-A linkbal-helper -p tcp --dport 2121 -j CT --helper ftp" }
    $1 == "COMMIT" && t == "*nat" { print "-A linkbal-nat -o wan9 -j MASQUERADE" }
    $1 == "COMMIT" && t == "*mangle" { print bad }
    { print }' /run/linkbal/ruleset >${file}`);
  /** lb_load FILE, as lb_apply calls it */
  const load = (file: string) => lab.exec(['sh', '-c', `LB_SOURCED=1; . /etc/linkbal/rules; lb_load ${file}`]);
  // refused in mangle, after raw and nat committed: by the kernel (MASQUERADE outside nat;
  // iptables-restore --test takes it), and by iptables' parser (an option it does not know)
  const BAD = ['-A linkbal-out -j MASQUERADE', '-A linkbal-out -j MARK --set-bogus 1'];

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3 });
    lab.ifup('wan0');
    const r = await cli([...EXACT, ...ARGS, ...PROBES, '--backend', 'iptables', '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
    for (const l of LINKS) lab.ifup(l);
  });
  afterAll(() => lab?.destroy());

  it.each(BAD)('keeps raw, nat and mangle as they were when mangle is refused: %s', (bad) => {
    const before = tables();
    expect(before.nat).toContain('-A linkbal-nat -o wan2 -j MASQUERADE');
    changed(bad, '/run/linkbal/test.ruleset');
    const r = load('/run/linkbal/test.ruleset');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/iptables-restore/);
    expect(tables()).toEqual(before);
    // the good part alone loads, and changes raw and nat: the check above could fail
    sh(`grep -vxF -e '${bad}' /run/linkbal/test.ruleset >/run/linkbal/good.ruleset`);
    expect(load('/run/linkbal/good.ruleset').status).toBe(0);
    const after = tables();
    expect(after.raw).toContain('--dport 2121');
    expect(after.nat).toContain('-o wan9');
    sh('/etc/linkbal/rules restart');
    expect(tables()).toEqual(before);
  });

  it('with no ruleset loaded before, leaves none of linkbal\'s chains behind', () => {
    changed(BAD[0] as string, '/run/test.ruleset');
    sh('/etc/linkbal/rules stop');
    const before = tables();
    expect(JSON.stringify(before)).not.toContain('linkbal');
    const r = load('/run/test.ruleset');
    expect(r.status).not.toBe(0);
    expect(tables()).toEqual(before);
    sh('/etc/linkbal/rules start');
  });
});
