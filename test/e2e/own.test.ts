// Own only what it created (issue 15, item 4), for each backend: an ip rule of someone else
// at one of linkbal's priorities, and routes of someone else in linkbal's tables and in the
// tables beside them, survive start, ifup, ifdown and stop; the link whose priority is taken
// is refused with a log line while the others still balance; --pref, --table-base and
// --mark-mask change what the kernel holds; the tables have names.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../lab/lab.js';
import { EXACT, cli } from '../helpers.js';

const BACKENDS = ['iptables', 'nftables'] as const;
const LINKS = ['wan1', 'wan2', 'wan3'];
const ARGS = ['--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', '10.1.2.1', '--iface', 'wan3', '--gw', '10.1.3.1'];
const PROBES = ['--probe', '203.0.113.1', '--probe', '203.0.113.2'];

// Someone else's: a rule at wan2's priority (PREF 1000 + link number 3), routes in wan1's
// and wan2's tables (102, 103) and in the tables beside linkbal's (101, 105).
const FOREIGN_RULE = 'from 10.99.0.0/16 lookup 500';
const FOREIGN_ROUTES: [number, string][] = [[101, 'blackhole 10.76.0.0/16'], [102, 'blackhole 10.77.0.0/16'],
  [103, 'unreachable 10.78.0.0/16'], [105, 'blackhole 10.79.0.0/16']];
const ADD_FOREIGN = [`ip rule add ${FOREIGN_RULE} pref 1003`,
  ...FOREIGN_ROUTES.map(([t, r]) => `ip route add ${r} table ${t}`)].join('; ');
const DEL_FOREIGN = [`ip rule del ${FOREIGN_RULE} pref 1003`, 'ip rule del from 10.98.0.0/16 lookup 501 pref 1000',
  ...FOREIGN_ROUTES.map(([t, r]) => `ip route del ${r} table ${t}`)].map((c) => `${c} 2>/dev/null`).join('; ');
/** Someone else's rules and routes, as the kernel holds them now. */
const SHOW_FOREIGN = `ip -N rule show pref 1003 | grep 10.99; ip -N rule show pref 1000 | grep 10.98;
  for t in ${FOREIGN_ROUTES.map(([t]) => t).join(' ')}; do ip route show table $t | grep -v default | sed "s/^/$t: /"; done; true`;

describe.each(BACKENDS)('owning only what it added, with the %s backend', (backend) => {
  let lab: Lab;
  const render = async (...more: string[]) => {
    const r = await cli([...EXACT, ...ARGS, ...PROBES, '--backend', backend, ...more, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
  };
  const sh = (script: string) => lab.execOk(['sh', '-c', script]);
  const foreign = () => sh(SHOW_FOREIGN).stdout;
  const spread = (n: number) => {
    const r = lab.connections(n);
    expect(r.errorMessages).toEqual([]);
    return r.counts;
  };

  beforeAll(async () => {
    lab = Lab.create({ uplinks: 4 });
    lab.ifup('wan0');
    await render();
  });
  afterEach(async () => {
    sh(`/etc/linkbal/rules stop; ${DEL_FOREIGN}; true`);
    await render();
    for (const l of ['wan0', ...LINKS]) lab.ifup(l);
    sh('/etc/linkbal/rules restart');
  });
  afterAll(() => lab?.destroy());

  it('leaves rules and routes of others alone through start, up, down and stop; refuses the link whose priority is taken', () => {
    sh('/etc/linkbal/rules stop');
    for (const l of LINKS) lab.ifdown(l);
    sh(ADD_FOREIGN);
    const theirs = foreign();
    expect(theirs.split('\n').filter(Boolean)).toHaveLength(5);

    // ifup: wan2 is refused, with the priority, the rule there and the flag to change it
    for (const l of LINKS) {
      const r = lab.exec(['ifup', l]);
      expect(r.status, r.stderr).toBe(0); // the hook never fails ifup
      if (l === 'wan2') {
        expect(r.stderr).toContain(`linkbal: ip rule priority 1003 holds a rule that is not linkbal's (${FOREIGN_RULE})`);
        expect(r.stderr).toContain('--pref');
        expect(r.stderr).toMatch(/linkbal: wan2: not used/);
      } else expect(r.stderr).toBe('');
      expect(foreign(), `ifup ${l}`).toBe(theirs);
    }
    // the others balance: wan0, wan1 and wan3 in turn, wan2 never
    expect(spread(12)).toEqual({ wan0: 4, wan1: 4, wan3: 4 });
    const rules = sh('ip -N rule').stdout;
    expect(rules).toMatch(/^1002:\tfrom all fwmark 0x2000000\/0x3f000000 lookup 102$/m);
    expect(rules).toMatch(/^1004:\tfrom all fwmark 0x4000000\/0x3f000000 lookup 104$/m);
    expect(rules).toMatch(/^1003:\tfrom 10\.99\.0\.0\/16 lookup 500$/m);
    expect(rules).not.toMatch(/lookup 103$/m);
    // its own route in its table, beside the foreign one
    expect(sh('ip route show table 102').stdout).toBe('default via 10.1.1.1 dev wan1 \nblackhole 10.77.0.0/16 \n');

    // rules start says it too, and changes nothing of theirs
    const start = lab.exec(['/etc/linkbal/rules', 'restart']);
    expect(start.stderr).toContain('ip rule priority 1003 holds a rule that is not linkbal\'s');
    expect(foreign()).toBe(theirs);
    expect(spread(12)).toEqual({ wan0: 4, wan1: 4, wan3: 4 });

    // ifdown and ifup of each, then stop: theirs stays, linkbal's goes
    for (const l of LINKS) {
      lab.ifdown(l);
      expect(foreign(), `ifdown ${l}`).toBe(theirs);
      lab.exec(['ifup', l]);
      expect(foreign(), `ifup ${l} again`).toBe(theirs);
    }
    sh('/etc/linkbal/rules stop');
    expect(foreign()).toBe(theirs);
    expect(sh('ip -N rule').stdout).not.toMatch(/^(100[0-9]|328[0-9][0-9]):.*lookup (10[0-9]|254 suppress)/m);
    expect(sh('ip route show table 102').stdout).toBe('blackhole 10.77.0.0/16 \n');

    // without the foreign rule, wan2 is taken in again
    sh(`ip rule del ${FOREIGN_RULE} pref 1003`);
    sh('/etc/linkbal/rules start');
    expect(spread(16)).toEqual({ wan0: 4, wan1: 4, wan2: 4, wan3: 4 });
  });

  it('takes no link in while its first priority holds a rule of someone else, and never deletes it', () => {
    sh('/etc/linkbal/rules stop; ip rule add from 10.98.0.0/16 lookup 501 pref 1000');
    const r = lab.exec(['/etc/linkbal/rules', 'start']);
    expect(r.stderr).toContain('linkbal: ip rule priority 1000 holds a rule that is not linkbal\'s (from 10.98.0.0/16 lookup 501)');
    expect(r.stderr).toContain('linkbal takes no link in while priority 1000 or 1001 is not its own');
    expect(spread(6)).toEqual({ wan0: 6 });
    expect(sh('ip -N rule').stdout).not.toMatch(/lookup 10[0-9]$/m);
    const up = lab.exec(['sh', '-c', 'ifdown wan1 && ifup wan1']);
    expect(up.status).toBe(0);
    expect(up.stderr).toContain('priority 1000');
    sh('/etc/linkbal/rules stop');
    expect(sh('ip -N rule show pref 1000').stdout).toBe('1000:\tfrom 10.98.0.0/16 lookup 501\n');
  });

  it('uses the priorities, tables and mark bits it is given, and names its tables', async () => {
    await render('--pref', '2000', '--table-base', '200', '--mark-mask', '0xf0');
    sh('/etc/linkbal/rules restart');
    expect(spread(16)).toEqual({ wan0: 4, wan1: 4, wan2: 4, wan3: 4 });
    const numeric = sh('ip -N rule').stdout;
    expect(numeric).toMatch(/^2000:\tfrom all lookup 254 suppress_prefixlength 0$/m);
    expect(numeric).toMatch(/^2001:\tfrom all fwmark 0x10\/0xf0 lookup 254$/m);
    expect(numeric).toMatch(/^2002:\tfrom all fwmark 0x20\/0xf0 lookup 202$/m);
    expect(numeric).toMatch(/^2003:\tfrom all fwmark 0x30\/0xf0 lookup 203$/m);
    expect(numeric).toMatch(/^2004:\tfrom all fwmark 0x40\/0xf0 lookup 204$/m);
    expect(numeric).toMatch(/^32802:\tfrom all lookup 202$/m);
    expect(numeric).not.toMatch(/^1\d\d\d:/m);
    // the names from /etc/iproute2/rt_tables.d/linkbal.conf
    const named = sh('ip rule').stdout;
    expect(named).toMatch(/^2002:\tfrom all fwmark 0x20\/0xf0 lookup linkbal-wan1$/m);
    expect(named).toMatch(/^32804:\tfrom all lookup linkbal-wan3$/m);
    expect(sh('ip route show table linkbal-wan2').stdout).toBe('default via 10.1.2.1 dev wan2 \n');
    expect(sh('cat /etc/iproute2/rt_tables.d/linkbal.conf').stdout)
      .toMatch(/^#.*\n202 linkbal-wan1\n203 linkbal-wan2\n204 linkbal-wan3\n$/);
    sh('/etc/linkbal/rules stop');
    expect(sh('ip -N rule').stdout).not.toMatch(/^(200\d|328\d\d):/m);
    expect(sh('ip -N route show table all | grep -c "table 20[2-4]" || true').stdout.trim()).toBe('0');
  });
});
