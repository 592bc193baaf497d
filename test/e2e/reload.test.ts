// Surviving a firewall reload (issue 15, item 3), for each backend: every usual way of
// reloading a firewall removes linkbal's ruleset with the rest (Debian's /etc/nftables.conf
// begins with "flush ruleset"; netfilter-persistent runs a full iptables-restore). The guard
// (/etc/linkbal/guard) loads it again within a second or two, `rules status` tells the
// truth in between, and the drop-in for nftables.service and the netfilter-persistent
// plugin load it at once. Measured at the server: the shares are the configured weights.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Lab } from '../lab/lab.js';
import { REPO, EXACT, cli, need, savedRuleset, sh as hostSh } from '../helpers.js';

const BACKENDS = ['nftables', 'iptables'] as const;
const ARGS = [
  '--iface', 'wan1', '--gw', '10.1.1.1', '--weight', '2', '--iface', 'wan2', '--gw', '10.1.2.1',
  '--probe', '203.0.113.1', '--probe', '203.0.113.2', // the lab's own servers, never a public address
];
/** 40 connections in nth mode over default 1, wan1 2, wan2 1 */
const SHARES = { wan0: 10, wan1: 20, wan2: 10 };

/** An admin's saved iptables ruleset, without linkbal: what a full iptables-restore, or
 *  netfilter-persistent from /etc/iptables/rules.v4, puts back. */
const SAVED = savedRuleset('-A POSTROUTING -s 10.3.0.0/24 -o wan0 -j MASQUERADE\n');

/** The command lines of the drop-in's ExecStartPost= and ExecReload= (what systemd runs), as words. */
const DROPIN = readFileSync(path.join(REPO, 'debian/site/nftables-reload.conf'), 'utf8');
const execLine = (key: string) => {
  const m = new RegExp(`^${key}=-/bin/sh -c '([^']*)'$`, 'm').exec(DROPIN);
  if (!m) throw new Error(`debian/site/nftables-reload.conf: no ${key}=-/bin/sh -c '...'`);
  return `/bin/sh -c '${m[1]}'`;
};
const PLUGIN = path.join(REPO, 'debian/site/netfilter-persistent-plugin');
const PLUGINS = '/usr/share/netfilter-persistent/plugins.d';

/** Run the netfilter-persistent of this machine with the plugins given (Debian's, and
 *  linkbal's when `linkbal`), in the command's private mount namespace. */
function persistent(linkbal: boolean, action: string): string {
  const own = linkbal ? `cp ${PLUGIN} "$d/90-linkbal" && chmod 755 "$d/90-linkbal" && ` : '';
  return `d=$(mktemp -d) && cp ${PLUGINS}/* "$d"/ && ${own}mount -n --bind "$d" ${PLUGINS} &&
    mkdir -p /etc/iptables && cat >/etc/iptables/rules.v4 <<'EOF'
${SAVED}EOF
    netfilter-persistent ${action}`;
}

/** What the kernel holds of linkbal, by the backend's own tool (not the rules script). */
const LOADED: Record<(typeof BACKENDS)[number], string> = {
  nftables: 'nft list chain inet linkbal out >/dev/null 2>&1',
  // the batch loads raw, nat, then mangle: its jump is the last to come
  iptables: "iptables-save -t mangle 2>/dev/null | grep -q -- '-A OUTPUT -j linkbal-out'",
};

interface Kind {
  name: string;
  backends: readonly (typeof BACKENDS)[number][];
  /** the reload, as an admin or a package runs it */
  run: string;
}

const KINDS: Kind[] = [
  { name: 'nft flush ruleset', backends: BACKENDS, run: 'nft flush ruleset' },
  // what nftables.service runs on start and reload (its ExecStart= and ExecReload=)
  { name: 'nft -f /etc/nftables.conf (systemctl reload nftables)', backends: BACKENDS, run: 'nft -f /etc/nftables.conf' },
  { name: 'a full iptables-restore of a saved ruleset', backends: ['iptables'], run: `iptables-restore <<'EOF'\n${SAVED}EOF` },
  { name: 'netfilter-persistent reload', backends: ['iptables'], run: persistent(false, 'reload') },
];

describe.each(BACKENDS)('surviving a firewall reload with the %s backend', (backend) => {
  let lab: Lab;
  const render = async () => {
    const r = await cli([...EXACT, ...ARGS, '--backend', backend, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
  };
  const sh = (script: string) => lab.execOk(['sh', '-c', script]);
  const rules = (...args: string[]) => lab.exec(['/etc/linkbal/rules', ...args]);
  const guards = () => lab.programs('/etc/linkbal/guard');
  /** The guard's process (its session leader) in this lab, for pausing it. */
  const guardPids = () => hostSh(`ip netns pids lb-${lab.name}-host`).stdout.split('\n').filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === '/bin/sh\0/etc/linkbal/guard\0' && stat[3] === pid;
    } catch {
      return false;
    }
  });
  const signalGuards = (sig: string) => { for (const pid of guardPids()) hostSh(`kill -${sig} ${pid}`); };
  const until = (what: string, ok: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
      hostSh('sleep 0.1');
    }
  };
  const loaded = () => lab.exec(['sh', '-c', LOADED[backend]]).status === 0;
  const shares = () => {
    const r = lab.connections(40);
    expect(r.errorMessages).toEqual([]);
    return r.counts;
  };

  beforeAll(async () => {
    need('netfilter-persistent', 'netfilter-persistent (make deps)');
    expect(readdirSync(PLUGINS), 'iptables-persistent (make deps)').toContain('15-ip4tables');
    lab = Lab.create({ uplinks: 3 });
    lab.ifup('wan0');
    await render();
    lab.ifup('wan1');
    lab.ifup('wan2');
  });
  // whatever a test did: no paused guard, the base settings, every link up, the rules afresh
  afterEach(async () => {
    signalGuards('CONT');
    await render();
    for (const i of ['wan0', 'wan1', 'wan2']) lab.ifup(i);
    lab.execOk(['/etc/linkbal/rules', 'restart']);
  });
  afterAll(() => {
    if (lab) signalGuards('CONT');
    lab?.destroy();
  });

  it('runs one guard while started, even after two starts at once, and none after stop', () => {
    until('a guard', () => guards().length === 1, 3000);
    sh('/etc/linkbal/rules start & /etc/linkbal/rules start & /etc/linkbal/rules status >/dev/null & wait');
    sh('/etc/linkbal/rules restart; /etc/linkbal/rules status >/dev/null; /etc/linkbal/rules ensure');
    // the one started last may not have reached its exec yet, the one before not ended
    until('one guard', () => guards().length === 1, 3000);
    expect(guards()).toEqual(['']);
    hostSh('sleep 1.5'); // a restarted one could be late to end
    expect(guards()).toEqual(['']);
    // stop waits for it
    sh('/etc/linkbal/rules stop');
    expect(guards()).toEqual([]);
    expect(rules('status').stdout).toMatch(/^linkbal: backend \S+, mode nth, rules not loaded$/m);
    sh('/etc/linkbal/rules start');
    until('one guard', () => guards().length === 1, 3000);
    expect(guards()).toEqual(['']);
  });

  for (const kind of KINDS.filter((k) => k.backends.includes(backend))) {
    it(`is back at the configured shares within 5 s of ${kind.name}, and status says so in between`, () => {
      until('a guard', () => guards().length === 1, 3000);
      expect(shares()).toEqual(SHARES);
      // the truth in between: the guard paused, status right after the reload
      signalGuards('STOP');
      const between = lab.exec(['sh', '-c', `{ ${kind.run}
} >/dev/null 2>&1; /etc/linkbal/rules status`]);
      expect(between.stdout.split('\n')[0]).toBe(
        `linkbal: backend ${backend}, mode nth, rules missing from the kernel (removed by another program?); the guard loads them again`);
      expect(between.status).toBe(1);
      expect(loaded()).toBe(false);
      signalGuards('CONT');
      until('the guard loaded the rules again', loaded, 5000);
      expect(rules('status').stdout.split('\n')[0]).toBe(`linkbal: backend ${backend}, mode nth, rules loaded`);
      // the time from the reload to the rules back, the guard running
      const ms = Number(sh(`{ ${kind.run}
} >/dev/null 2>&1; t0=$(date +%s%N); n=0
        until ${LOADED[backend]} || [ $n -ge 200 ]; do sleep 0.05; n=$((n + 1)); done
        echo $((($(date +%s%N) - t0) / 1000000))`).stdout.trim());
      console.log(`${backend}: ${kind.name}: rules back after ${ms} ms`);
      expect(ms).toBeLessThan(5000);
      expect(shares()).toEqual(SHARES);
      expect(guards()).toEqual(['']);
    });
  }

  it('loads the rules at once from nftables.service\'s drop-in, which never fails the unit', () => {
    signalGuards('STOP');
    for (const key of ['ExecStartPost', 'ExecReload']) {
      // nftables.service runs nft -f /etc/nftables.conf, then the drop-in's command
      const r = lab.exec(['sh', '-c', `nft -f /etc/nftables.conf && ${execLine(key)}; echo "status $?"; /etc/linkbal/rules status`]);
      expect(r.stderr, key).toBe('linkbal: the ruleset had been removed by another program (a firewall reload?); loaded again\n');
      expect(r.stdout, key).toMatch(/^status 0\nlinkbal: backend \S+, mode nth, rules loaded$/m);
      // the rules there: nothing to do, nothing said
      const again = lab.exec(['sh', '-c', execLine(key)]);
      expect([again.status, again.stdout + again.stderr], key).toEqual([0, '']);
    }
    signalGuards('CONT');
    expect(shares()).toEqual(SHARES);
    // without linkbal's rules script (not installed, or removed): nothing, and success
    const none = lab.exec(['sh', '-c', `mount -n --bind /dev/null /etc/linkbal/rules && ${execLine('ExecReload')}`]);
    expect([none.status, none.stdout + none.stderr]).toEqual([0, '']);
  });

  it('loads the rules at once from its netfilter-persistent plugin, also over an old copy a save kept', () => {
    signalGuards('STOP');
    const r = lab.exec(['sh', '-c', `${persistent(true, 'reload')} 2>&1; /etc/linkbal/rules status`]);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('linkbal'))).toEqual([
      ...(backend === 'iptables' ? ['linkbal: the ruleset had been removed by another program (a firewall reload?); loaded again'] : []),
      `linkbal: backend ${backend}, mode nth, rules loaded`,
    ]);
    signalGuards('CONT');
    expect(shares()).toEqual(SHARES);
    if (backend !== 'iptables') return; // a save holds only iptables rules
    // a save keeps linkbal's chains as they are now, wan2 in; restored once wan2 went down,
    // the plugin loads today's ruleset over that copy, which the guard would take for linkbal's
    const saved = sh(`${persistent(true, 'save')} >/dev/null 2>&1 && cat /etc/iptables/rules.v4`).stdout;
    expect(saved).toContain('-A POSTROUTING -s 10.3.0.0/24 -o wan0 -j MASQUERADE');
    expect(saved).toContain('-A linkbal-nat -o wan2 -j MASQUERADE');
    lab.ifdown('wan2');
    signalGuards('STOP');
    sh(`d=$(mktemp -d) && cp ${PLUGINS}/* "$d"/ && cp ${PLUGIN} "$d/90-linkbal" && chmod 755 "$d/90-linkbal" &&
      mount -n --bind "$d" ${PLUGINS} && netfilter-persistent start >/dev/null 2>&1`);
    const r2 = lab.connections(30);
    expect(r2.errorMessages).toEqual([]);
    expect(r2.counts).toEqual({ wan0: 10, wan1: 20 });
    signalGuards('CONT');
  });

  it('does not bring a stopped linkbal back: not rules reload, the drop-in or the plugin', () => {
    sh('/etc/linkbal/rules stop');
    const r = lab.exec(['sh', '-c', `/etc/linkbal/rules reload && ${execLine('ExecReload')} &&
      ${persistent(true, 'reload')} >/dev/null && netfilter-persistent flush >/dev/null`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/^linkbal: /m);
    expect(loaded()).toBe(false);
    expect(rules('status').stdout.split('\n')[0]).toBe(`linkbal: backend ${backend}, mode nth, rules not loaded`);
    expect(guards()).toEqual([]);
    expect(sh('nft list ruleset | grep -c linkbal || true').stdout.trim()).toBe('0');
    // and a copy of linkbal's rules that another program restored is reported, exit 1
    if (backend === 'nftables') {
      sh('/etc/linkbal/rules start && nft list table inet linkbal >/tmp/linkbal-copy.nft && /etc/linkbal/rules stop && nft -f /tmp/linkbal-copy.nft; rm -f /tmp/linkbal-copy.nft');
      const s = rules('status');
      expect(s.stdout.split('\n')[0]).toMatch(/rules not loaded by linkbal, but the kernel holds a copy/);
      expect(s.status).toBe(1);
      sh('/etc/linkbal/rules stop');
      expect(loaded()).toBe(false);
    }
  });

  it('costs little: the guard\'s CPU time over 5 s', () => {
    until('a guard', () => guardPids().length === 1, 3000);
    const [pid] = guardPids();
    // utime stime cutime cstime: the guard and what it waited for (sleep, nft, iptables-save)
    const cpu = () => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
      .slice(11, 15).reduce((s, x) => s + Number(x), 0);
    const hz = Number(hostSh('getconf CLK_TCK').stdout);
    const t0 = Date.now();
    const c0 = cpu();
    hostSh('sleep 5');
    const share = (cpu() - c0) / hz / ((Date.now() - t0) / 1000);
    console.log(`${backend}: the guard used ${(share * 100).toFixed(2)}% of a core`);
    expect(share).toBeLessThan(0.02);
  });
});
