// The hooks under real ifupdown2 (Debian's ifupdown2, installed over ifupdown in the lab's
// throwaway /usr and /var): it runs if-up.d without run-parts, with ADDRFAM "inet,inet6"
// and no VERBOSITY. For each backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Lab } from '../lab/lab.js';
import { REPO, EXACT, cli, tmpdir } from '../helpers.js';

describe.each(['iptables', 'nftables'] as const)('ifupdown2 with the %s backend', (backend) => {
  let lab: Lab;
  const dir = tmpdir('linkbal-ifupdown2-');
  /** sh -c SCRIPT in the lab host with /usr and /var overlays that outlive each exec */
  const x = (script: string) => lab.execOk(['sh', '-c', `set -e
    for top in usr var; do
      mount -t overlay "linkbal-$top" -o "lowerdir=/$top,upperdir=${dir}/$top/upper,workdir=${dir}/$top/work" "/$top"
    done
    export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
    # the linkbal command, without which the hooks do nothing (the lab's is under this /usr)
    install -m 0755 ${path.join(REPO, 'debian/linkbal')} /usr/sbin/linkbal
    ${script}`]);

  beforeAll(async () => {
    // from Debian's archive, outside the lab (whose namespaces have no way out); apt reads
    // local packages as its sandbox user _apt
    chmodSync(dir, 0o755);
    const dl = spawnSync('apt-get', ['download', 'ifupdown2'], { cwd: dir, encoding: 'utf8' });
    const deb = readdirSync(dir).find((f) => f.startsWith('ifupdown2_'));
    if (dl.status !== 0 || !deb) throw new Error(`apt-get download ifupdown2 failed: ${dl.stderr}`);
    for (const top of ['usr', 'var']) for (const d of ['upper', 'work']) mkdirSync(path.join(dir, top, d), { recursive: true });
    lab = Lab.create({ uplinks: 3 });
    const r = await cli([...EXACT, '--iface', 'wan1', '--gw', '10.1.1.1', '--iface', 'wan2', '--gw', '10.1.2.1', '--weight', '2',
      '--probe', '203.0.113.1', '--probe', '203.0.113.2', '--backend', backend, '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
    x(`apt-get install -y -q ${path.join(dir, deb)} >&2`);
    expect(x('ifup --version').stdout).toMatch(/^ifupdown2:/);
  }, 300_000);
  afterAll(() => lab?.destroy());

  it('takes the links in on ifup and spreads by weight', () => {
    for (const i of ['wan0', 'wan1', 'wan2']) x(`ifup ${i}`);
    expect(x('/etc/linkbal/rules status').stdout).toMatch(/^wan2\s+up\s+10\.1\.2\.1\s+2\s+50%/m);
    expect(lab.connections(40).counts).toEqual({ wan0: 10, wan1: 10, wan2: 20 });
  });

  it('takes a link out on ifdown and re-spreads its share', () => {
    x('ifdown wan1');
    try {
      expect(x('/etc/linkbal/rules status').stdout).toMatch(/^wan1\s+down/m);
      expect(lab.connections(30).counts).toEqual({ wan0: 10, wan2: 20 });
    } finally {
      x('ifup wan1');
    }
    expect(lab.connections(40).counts).toEqual({ wan0: 10, wan1: 10, wan2: 20 });
  });
});
