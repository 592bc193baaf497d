// Kernel tier (root): the learner's cheap load (lb_reweigh: the chains that choose, alone)
// leaves the kernel, and the ruleset file, exactly as the full load (lb_apply) of the same
// weights would, for both backends and every mode, and with IPv6 (a new route too: chain
// choose holds the routes); and it loads all when more changed (an address) or when the
// cheap load fails. In a throwaway network namespace with veth devices (the default link
// wan0, the uplinks wan1 and wan2, a LAN), the state under a temporary directory: nothing
// on the machine is touched.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { cli, need, sh, tmpdir } from '../helpers.js';

const BACKENDS = ['nftables', 'iptables'] as const;
const MODES = ['nth', 'random', 'hash'] as const;
// learned weights of the default link, wan1 and wan2 (link K has mark K * LB_UNIT): a link at
// 0, equal ones, one link alone
const WEIGHTS = ['0 30 30', '3 1 0', '7 7 7', '0 5 0'];

// every backend and mode; and each backend with IPv6 (--gw6: chain choose6 too, or ip6tables'
// linkbal-choose); --mode least (nftables only: chains least and least6 choose too)
const CASES: { backend: typeof BACKENDS[number]; mode: string; v6: boolean }[] = [
  ...BACKENDS.flatMap((backend) => MODES.map((mode) => ({ backend, mode, v6: false }))),
  ...BACKENDS.map((backend) => ({ backend, mode: 'nth', v6: true })),
  { backend: 'nftables', mode: 'least', v6: false }, { backend: 'nftables', mode: 'least', v6: true }];

describe('lb_reweigh loads what lb_apply would', () => {
  for (const { backend, mode, v6 } of CASES) {
    it(`${backend}, --mode ${mode}${v6 ? ', IPv6' : ''}`, async () => {
      if (process.getuid?.() !== 0) throw new Error('the kernel tier needs root (unshare -n): sudo make kernel');
      need('unshare', 'util-linux');
      need(backend === 'nftables' ? 'nft' : 'iptables-restore', backend);
      const root = tmpdir();
      const gw6 = (k: number): string[] => (v6 ? ['--gw6', `2001:db8:9:${k}::1`] : []);
      const r0 = await cli(['--iface', 'wan1', '--gw', '10.9.1.1', ...gw6(1), '--weight', 'auto', '--iface', 'wan2',
        '--gw', '10.9.2.1', ...gw6(2), '--weight', 'auto', '--mode', mode, '--lan', 'lan0', '--bypass-dst', '10.200.0.0/16', '--bypass-port', 'tcp/22',
        '--backend', backend, '--root', root]);
      expect(r0.stderr).toBe('');
      expect(r0.code).toBe(0);
      const run = tmpdir('linkbal-reweigh-');
      // the rules script's functions with the state under RUN; lb_apply logs each full load
      const rules = fs.readFileSync(path.join(root, 'etc/linkbal/rules'), 'utf8')
        .replace(/^RUN=\/run\/linkbal$/m, `RUN=${run}`).replace(/^lb_apply\(\) \{$/m, 'lb_apply_full() {');
      expect(rules).toContain(`RUN=${run}`);
      expect(rules).toContain('lb_apply_full() {');
      fs.writeFileSync(path.join(run, 'lib.sh'), `LB_SOURCED=1\n${rules}\nlb_apply() { echo full >>"$RUN/loads"; lb_apply_full; }\n`);
      const list = backend === 'nftables' ? 'nft list table inet linkbal' : "{ iptables-save; ip6tables-save; } | grep -v '^#'";
      const script = `ip link set lo up || exit 1
        for d in wan0 wan1 wan2 lan0; do
          ip link add $d type veth peer name p$d && ip link set p$d up && ip link set $d up || exit 1
        done
        ip addr add 10.9.0.2/24 dev wan0 && ip addr add 10.9.1.2/24 dev wan1 && ip addr add 10.9.2.2/24 dev wan2 &&
          ip addr add 10.0.0.1/24 dev lan0 && ip route add default via 10.9.0.1 dev wan0 &&
          ip route add 10.77.0.0/16 via 10.9.1.1 dev wan1 || exit 1
        . ${run}/lib.sh
        mkdir -p "$LB_UP" "$LB_LEARN" "$RUN/out"
        echo "10.9.1.1 $((2 * LB_UNIT)) 102" >"$LB_UP/wan1"; echo "10.9.2.1 $((3 * LB_UNIT)) 103" >"$LB_UP/wan2"
        ${v6 ? `for k in 0 1 2; do ip -6 addr add 2001:db8:9:$k::2/64 dev wan$k nodad || exit 1; done
        ip -6 route add default via 2001:db8:9::1 dev wan0 && ip -6 route add 2001:db8:77::/48 via 2001:db8:9:1::1 dev wan1 || exit 1
        mkdir -p "$LB_UP6"
        echo "2001:db8:9:1::1 $((2 * LB_UNIT)) 102" >"$LB_UP6/wan1"; echo "2001:db8:9:2::1 $((3 * LB_UNIT)) 103" >"$LB_UP6/wan2"` : ''}
        weights() { echo "$LB_UNIT:$1 $((2 * LB_UNIT)):$2 $((3 * LB_UNIT)):$3" >"$LB_LEARN/weights"; }
        weights 1 1 1
        # twice: the second finds linkbal's jumps in place, as every later load does
        lb_apply && lb_apply || exit 1
        k=0
        for w in ${WEIGHTS.map((w) => `'${w}'`).join(' ')}; do
          weights $w; : >"$RUN/loads"
          lb_reweigh || exit 1
          cp "$RUN/loads" "$RUN/out/$k.loads"; ${list} >"$RUN/out/$k.cheap"; cp "$LB_RULESET" "$RUN/out/$k.cheap-file"
          lb_apply || exit 1
          ${list} >"$RUN/out/$k.full"; cp "$LB_RULESET" "$RUN/out/$k.full-file"
          k=$((k + 1))
        done
        # a new route: in chain choose, loaded with the chooser
        ip route add 10.79.0.0/16 via 10.9.2.1 dev wan2 || exit 1
        weights 1 2 3; : >"$RUN/loads"
        lb_reweigh || exit 1
        cp "$RUN/loads" "$RUN/out/route.loads"; ${list} >"$RUN/out/route.cheap"
        lb_apply && ${list} >"$RUN/out/route.full" || exit 1
        # a new address on an uplink (a socket bound to it keeps the link): more than the
        # chooser changes, all is loaded
        ip addr add 10.9.2.3/24 dev wan2 || exit 1
        weights 2 2 3; : >"$RUN/loads"
        lb_reweigh || exit 1
        cp "$RUN/loads" "$RUN/out/addr.loads"; ${list} >"$RUN/out/addr.list"
        # the cheap load fails (${backend === 'nftables' ? 'the table is gone' : 'the kernel refuses it'}): all is loaded
        weights 3 2 1; lb_apply && ${list} >"$RUN/out/fail.ref" || exit 1
        weights 1 2 3; lb_apply || exit 1
        ${backend === 'nftables' ? 'nft delete table inet linkbal' : 'lb_choose_load() { return 1; }'}
        weights 3 2 1; : >"$RUN/loads"
        lb_reweigh 2>"$RUN/out/fail.err" || exit 1
        cp "$RUN/loads" "$RUN/out/fail.loads"; ${list} >"$RUN/out/fail.list"`;
      fs.writeFileSync(path.join(run, 'script.sh'), script);
      const r = sh(`unshare -n sh ${run}/script.sh`);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const out = (f: string): string => fs.readFileSync(path.join(run, 'out', f), 'utf8');
      WEIGHTS.forEach((w, k) => {
        expect(out(`${k}.loads`), `${w}: the chooser alone`).toBe('');
        expect(out(`${k}.cheap`), w).toBe(out(`${k}.full`));
        expect(out(`${k}.cheap-file`), w).toBe(out(`${k}.full-file`));
      });
      // the weights change the chooser: two steps' listings differ
      expect(out('1.full')).not.toBe(out('0.full'));
      if (v6 && backend === 'nftables') expect(out('0.cheap')).toMatch(/chain choose6 \{\n\t\tip6 daddr \{ [^}]*2001:db8:77::\/48[^]*numgen inc mod 2 vmap/);
      if (v6 && backend === 'iptables') {
        expect(out('0.cheap')).toMatch(/\n-A linkbal-choose -d 2001:db8:77::\/48 -j RETURN\n(-A linkbal-choose .*\n)*-A linkbal-choose -m statistic --mode nth --every 2 --packet 0 /);
      }
      expect(out('route.loads')).toBe('');
      expect(out('route.cheap')).toContain('10.79.0.0/16');
      expect(out('route.cheap')).toBe(out('route.full'));
      expect(out('addr.loads')).toBe('full\n');
      expect(out('addr.list')).toContain('10.9.2.3');
      expect(out('fail.loads')).toBe('full\n');
      expect(out('fail.list')).toBe(out('fail.ref'));
      expect(out('fail.err')).toBe('');
    });
  }
});
