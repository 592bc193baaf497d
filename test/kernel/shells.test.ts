// Kernel tier (root): the rules script is POSIX sh, so it runs the same under dash, bash,
// busybox sh and posh: start, status and stop in a throwaway network namespace with its
// own /run, each leaving the same netfilter state and printing the same status; iptables
// with --gw6 too (both families' batches).
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { HOWTO_ARGS, cli, need, sh, tmpdir } from '../helpers.js';

const SHELLS: [string, string][] = [['dash', 'dash'], ['bash', 'bash'], ['busybox sh', 'busybox'], ['posh', 'posh']];

// the title, the backend, more flags
const CASES = [
  ['nftables', 'nftables', []],
  ['iptables', 'iptables', []],
  ['iptables, --gw6', 'iptables', ['--gw6', '2001:db8::1']],
] as const;

describe.each(CASES)('the rules script under every POSIX sh (%s)', (_title, backend, v6) => {
  it('starts, reports and stops alike under dash, bash, busybox sh and posh', async () => {
    if (process.getuid?.() !== 0) throw new Error('the kernel tier needs root (unshare): sudo make kernel');
    for (const [, pkg] of SHELLS) need(pkg, pkg);
    const root = tmpdir();
    const r0 = await cli([...HOWTO_ARGS, ...v6, '--probe', 'none', '--backend', backend, '--root', root]);
    expect(r0.code, r0.stderr).toBe(0);
    const rules = path.join(root, 'etc/linkbal/rules');
    const seen = new Map<string, string>();
    for (const [shell] of SHELLS) {
      const r = sh(`unshare -n -m sh -c 'mount -t tmpfs linkbal-run /run && ip link set lo up &&
        ${shell} ${rules} start && ${shell} ${rules} status &&
        { nft -s list ruleset 2>/dev/null; { iptables-save; ip6tables-save; } | grep -v "^#" | sed "s/\\[[0-9]*:[0-9]*\\]//"; ip rule; } &&
        ${shell} ${rules} stop && echo stopped && nft list ruleset 2>/dev/null | grep -c linkbal'`);
      expect(r.stderr, shell).toBe('');
      expect(r.stdout, shell).toMatch(/rules loaded/);
      expect(r.stdout, shell).toMatch(/\nstopped\n0\n$/);
      seen.set(shell, r.stdout);
    }
    for (const [shell, out] of seen) expect(out, `${shell} as dash`).toBe(seen.get('dash'));
  });
});
