// Kernel tier (root): every ruleset the rules script of each golden case can build goes
// through the kernel's own check (nft -c, iptables-restore --test) in a throwaway network
// namespace, so nothing on the machine is touched.
import { describe, expect, it } from 'vitest';
import fs from 'fs-extra';
import path from 'node:path';
import { REPO, cli, need, read, sh, tmpdir } from '../helpers.js';

const GOLDEN = path.join(REPO, 'test/golden');
const cases = fs.readdirSync(GOLDEN).filter((c) => fs.existsSync(path.join(GOLDEN, c, 'args')));

describe('rulesets through the kernel', () => {
  for (const c of cases) {
    it(`${c}: every ruleset the runtime can build passes the kernel's check`, async () => {
      if (process.getuid?.() !== 0) throw new Error('the kernel tier needs root (unshare -n): sudo make kernel');
      need('unshare', 'util-linux');
      const root = tmpdir();
      const r0 = await cli([...read(path.join(GOLDEN, c, 'args')).split('\n').filter(Boolean), '--root', root]);
      expect(r0.stderr).toBe('');
      expect(r0.code).toBe(0);
      const rules = path.join(root, 'etc/linkbal/rules');
      const backend = /^BACKEND='(\w+)'/m.exec(read(rules))?.[1];
      need(backend === 'nftables' ? 'nft' : 'iptables-restore', backend as string);
      // the rules script's functions: sourced with LB_SOURCED=1 it runs nothing
      const lib = rules;
      // iptables: each family's batch (lb_batch) through its own restore
      const check = backend === 'nftables' ? 'nft -c -f -'
        : 'cat >"$f" && for v in 4 ${LINKS6:+6}; do lb_batch "$f" $v | "ip${v#4}tables-restore" --test --noflush -w || exit 1; done';
      // link number K:weight; link K has mark K * LB_UNIT (the default link is K = 1)
      for (const set of ['1:1', '1:1 2:2 3:1', '2:4 3:2 1:1', '3:1', '']) {
        // in a throwaway network namespace: iptables-restore --test still needs the chains' tables
        const r = sh(`unshare -n sh -c 'LB_SOURCED=1; . ${lib}; f=${root}/ruleset; set --
          for p in ${set}; do set -- "$@" $((\${p%:*} * LB_UNIT)):\${p#*:}; done
          lb_ruleset "$@" | ${check}'`);
        expect(r.stderr, `${set}`).toBe('');
        expect(r.status, `${set}`).toBe(0);
      }
    });
  }
});
