// The tool package with only one of the two backends installed (Depends: nftables |
// iptables): linkbal-gen picks the one that is there and its rules load and go away.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from './sandbox.js';
import { buildToolDeb } from './helpers.js';

const APT = 'apt-get -y -q -o Dpkg::Use-Pty=0';
const CASES = [
  { alone: 'iptables', purge: 'nftables', loaded: 'iptables-save | grep -c "^:linkbal-"' },
  { alone: 'nftables', purge: 'iptables', loaded: 'nft list table inet linkbal | grep -c "chain "' },
] as const;

describe.each(CASES)('with $alone alone', ({ alone, purge, loaded }) => {
  let box: Sandbox | undefined;
  const sb = () => box as Sandbox;

  beforeAll(async () => {
    const deb = buildToolDeb();
    box = await Sandbox.create();
    sb().ok(`${APT} purge ${purge} >&2`);
    expect(sb().run(`command -v ${purge === 'nftables' ? 'nft' : 'iptables'}`).status).not.toBe(0);
    sb().ok(`${APT} install ${deb} >&2`);
  }, 300_000);
  afterAll(async () => { await box?.destroy(); });

  it(`installs, and linkbal-gen chooses ${alone}`, () => {
    sb().ok('linkbal-gen --iface eth1 --gw 172.16.0.1');
    expect(sb().ok('cat /etc/linkbal/rules')).toContain(`BACKEND='${alone}'`);
  });

  it('loads its rules and removes them again', () => {
    sb().ok('/etc/linkbal/rules start');
    expect(Number(sb().ok(loaded))).toBeGreaterThan(0);
    sb().ok('/etc/linkbal/rules stop');
    expect(sb().run(loaded).stdout.trim()).toMatch(/^0?$/);
  });
});
