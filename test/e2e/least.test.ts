// --mode least on a real kernel (nftables' default mode; issue 14): a new TCP connection
// takes the first free slot, so it goes to the link with the fewest open connections per
// unit of weight, decided in the kernel when it comes; a connection's FIN frees its slot.
// Connections are held open from the router one at a time, each by a program of its own,
// and the link each took is read from its conntrack mark. With configured weights 4:2:1
// (also from the LAN, where both ends' FINs pass prerouting), the same over IPv6 (chain
// least6, slots of its own), and with --weight auto (equal weights from nothing; idle held
// connections teach it nothing).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { Lab } from '../lab/lab.js';
import { cli } from '../helpers.js';

// one connection to the lab's server HOST, held open until FILE goes (then closed with a
// FIN); FILE.port: its local port while it is open (60 s at most)
const HOLD = `const net = require('net'), fs = require('fs'), [f, host] = process.argv.slice(1);
const s = net.connect({ host, port: 8080 }, () => fs.writeFileSync(f + '.port', String(s.localPort)));
s.on('close', () => { fs.rmSync(f + '.port', { force: true }); process.exit(0); }).on('error', () => {});
setInterval(() => { if (!fs.existsSync(f)) s.end(); }, 50);
setTimeout(() => s.destroy(), 60000).unref();`;

const FIXED = ['--weight', '2', '--iface', 'wan2', '--gw', '10.1.2.1', '--weight', '1', '--default-weight', '4'];
const CONFIGS: Record<string, { args: string[]; host: string }> = {
  'weights 4:2:1': { args: [...FIXED, '--lan', 'lan0'], host: '203.0.113.1' },
  'weights 4:2:1, IPv6': { args: ['--gw6', '2001:db8:1:1::1', ...FIXED, '--gw6', '2001:db8:1:2::1'], host: '2001:db8:ff::1' },
  '--weight auto': { args: ['--weight', 'auto', '--iface', 'wan2', '--gw', '10.1.2.1', '--weight', 'auto'], host: '203.0.113.1' },
};

describe.each(Object.keys(CONFIGS))('--mode least, %s', (config) => {
  const { args, host } = CONFIGS[config] as { args: string[]; host: string };
  const v6 = host.includes(':');
  let lab: Lab;
  let n = 0;
  beforeAll(async () => {
    lab = Lab.create({ uplinks: 3, ipv6: v6, lan: args.includes('--lan') });
    // the admin's NAT of the LAN on the default link (linkbal leaves that one alone)
    if (args.includes('--lan')) {
      lab.execOk(['nft', 'add table ip admin; add chain ip admin post { type nat hook postrouting priority srcnat; };'
        + ' add rule ip admin post oifname "wan0" ip saddr 10.3.0.0/24 masquerade']);
    }
    // least: nftables' default mode
    const r = await cli(['--iface', 'wan1', '--gw', '10.1.1.1', ...args, '--probe', 'none',
      '--backend', 'nftables', '--root', lab.root]);
    expect(r.code, r.stderr).toBe(0);
    for (const i of ['wan0', 'wan1', 'wan2']) lab.ifup(i);
  });
  afterAll(() => {
    lab?.exec(['sh', '-c', `rm -f ${lab.state}/hold*`]);
    lab?.destroy();
  });

  /** hold one more connection open (from the router, or from the LAN); its file and the link
   *  it took (from its conntrack mark) */
  const hold = (from: 'host' | 'lan' = 'host'): { file: string; link: string } => {
    const file = path.join(lab.state, `hold${n++}`);
    const script = `: >${file}; setsid node -e "${HOLD}" ${file} ${host} </dev/null >/dev/null 2>&1 &
      for i in $(seq 100); do [ -s ${file}.port ] && exit 0; sleep 0.05; done; echo "not connected"; exit 1`;
    const r = from === 'lan' ? lab.netexec('lan', ['sh', '-c', script]) : lab.exec(['sh', '-c', script]);
    expect(r.status, `${from}: ${r.stdout}${r.stderr}`).toBe(0);
    const port = lab.execOk(['cat', `${file}.port`]).stdout.trim();
    const ct = lab.execOk(['conntrack', '-L', '-f', v6 ? 'ipv6' : 'ipv4', '-p', 'tcp', '--sport', port]).stdout;
    const mark = Number(/mark=(\d+)/.exec(ct)?.[1]);
    const link = ({ 1: 'wan0', 2: 'wan1', 3: 'wan2' } as Record<number, string>)[mark / 0x1000000];
    expect(link, ct).toBeDefined();
    return { file, link: link as string };
  };
  /** close a held connection (a FIN) and wait until its program saw it closed */
  const release = (h: { file: string }) => lab.execOk(['sh', '-c', `rm ${h.file}
    for i in $(seq 100); do [ -e ${h.file}.port ] || exit 0; sleep 0.05; done; echo "still open"; exit 1`]);
  const taken = () => (lab.execOk(['nft', 'list', 'table', 'inet', 'linkbal']).stdout.match(/elements = /g) ?? []).length;

  it('says mode least', () => {
    expect(lab.execOk(['/etc/linkbal/rules', 'status']).stdout).toMatch(/^linkbal: backend nftables, mode least, rules loaded$/m);
  });

  it('gives each new connection the link with the fewest open, and a link its turn again once one of its connections closes', () => {
    // nth would give wan0, wan1, wan0 (4:2:1) or wan0, wan1, wan2 and then wan0 (1:1:1)
    const held = [hold(), hold(), hold()];
    expect(held.map((h) => h.link)).toEqual(['wan0', 'wan1', 'wan2']);
    expect(taken()).toBe(6); // three slots: taken, and by which connection
    // status says what the kernel counts (the default link is "default")
    expect(lab.execOk(['/etc/linkbal/rules', 'status']).stdout)
      .toContain('least: open TCP connections counted (slots taken, of 16): default 1, wan1 1, wan2 1\n');
    release(held[1] as { file: string });
    expect(hold().link).toBe('wan1');
    for (const h of [held[0], held[2]]) release(h as { file: string });
    // wan0 and wan2 free again, wan1 still holds one: the next goes to wan0, then wan2
    expect([hold().link, hold().link]).toEqual(['wan0', 'wan2']);
  });

  const releaseAll = () => {
    for (let k = 0; k < n; k++) lab.exec(['rm', '-f', path.join(lab.state, `hold${k}`)]);
    lab.execOk(['sh', '-c', `for i in $(seq 100); do ls ${lab.state}/hold*.port >/dev/null 2>&1 || exit 0; sleep 0.05; done; exit 1`]);
  };

  it('frees every slot when the connections close', () => {
    releaseAll();
    expect(taken()).toBe(0);
    const status = lab.execOk(['/etc/linkbal/rules', 'status']).stdout;
    expect(status).toContain('least: open TCP connections counted (slots taken, of 16): default 0, wan1 0, wan2 0\n');
    expect(status).not.toMatch(/^least: [^:]*: .* [1-9]/m); // a count above 0
  });

  if (!v6) {
    it('spreads over the links that are up: ifdown wan1, and its turns go to the others', () => {
      lab.ifdown('wan1');
      try {
        // by weight over wan0 and wan2 (4:1, or 1:1 learned from nothing), wan1 never
        expect([hold().link, hold().link, hold().link]).toEqual(['wan0', 'wan2', 'wan0']);
        releaseAll();
        expect(taken()).toBe(0);
      } finally {
        lab.ifup('wan1');
      }
      expect([hold().link, hold().link, hold().link]).toEqual(['wan0', 'wan1', 'wan2']);
      releaseAll();
    });
  }

  // (the configuration with a LAN only)
  if (args.includes('--lan')) {
    it('places connections from the LAN the same way, and frees their slots', () => {
      expect([hold('lan').link, hold('lan').link, hold('lan').link]).toEqual(['wan0', 'wan1', 'wan2']);
      releaseAll();
      expect(taken()).toBe(0);
    });
  }
});
