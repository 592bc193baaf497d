// The runtime's address and lease checks (templates/lib/links.sh), run by sh from the
// rendered rules script (sourced with LB_SOURCED=1): lb_is_ipv4 is as strict as the
// generator's parseIPv4, and a DHCP uplink's gateway comes only from an unexpired lease of
// its own interface.
import { beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { cli, sh, tmpdir } from '../helpers.js';
import { parseIPv4 } from '../../src/validate.js';

let rules = '';
beforeAll(async () => {
  const root = tmpdir();
  const r = await cli(['--iface', 'wan1', '--gw', 'dhcp', '--probe', 'none', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  rules = path.join(root, 'etc/linkbal/rules');
});
/** sh SCRIPT after the rules script's functions; its status and output. */
const runtime = (script: string) => sh(`LB_SOURCED=1; . '${rules}'; ${script}`);

const GOOD = ['0.0.0.0', '1.2.3.4', '10.1.2.1', '192.168.0.1', '255.255.255.255', '100.64.0.1', '9.99.199.249'];
const BAD = [
  '', '.', '...', '1.2.3', '1.2.3.4.5', '1.2.3.', '.1.2.3', '1..2.3', '999.1.1.1', '256.1.1.1', '1.2.3.256',
  '010.001.001.001', '01.2.3.4', '1.2.3.04', '00.0.0.0', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.4/24', 'a.b.c.d', '1.2.3.-4',
  '1.2.3.4a', '0x1.2.3.4', '1.2.3.1000', '1.2.3.2555', '1.2.3.*', '1.2.3.[1]', '１.2.3.4', '1.2.3.4\n',
];

describe('lb_is_ipv4', () => {
  it('takes four decimal octets 0-255 without leading zeros, as parseIPv4 does', () => {
    const words = [...GOOD, ...BAD];
    // one sh for the table: a line per word, "1" when lb_is_ipv4 takes it
    const script = words.map((w) => `if lb_is_ipv4 '${w.replace(/'/g, "'\\''")}'; then echo 1; else echo 0; fi`).join('\n');
    const r = runtime(script);
    expect(r.stderr).toBe('');
    const got = r.stdout.trim().split('\n');
    words.forEach((w, i) => {
      expect(got[i], JSON.stringify(w)).toBe(GOOD.includes(w) ? '1' : '0');
      expect(got[i] === '1', `parseIPv4 agrees on ${JSON.stringify(w)}`).toBe(parseIPv4(w) !== undefined);
    });
  });
});

/** A dhclient lease block. */
const lease = (iface: string, router: string | undefined, expire: string) => `lease {
  interface "${iface}";
  fixed-address 10.1.2.2;
  option subnet-mask 255.255.255.0;
${router === undefined ? '' : `  option routers ${router};\n`}  option dhcp-lease-time 600;
  renew 3 2026/11/25 10:00:00;
  rebind 3 2026/11/25 10:04:00;
  expire ${expire};
}
`;
const PAST = '3 2001/01/01 00:00:00';
const FUTURE = '5 2099/12/31 23:59:59';

describe('lb_lease_gw: the gateway of a DHCP uplink from dhclient\'s lease file', () => {
  /** the gateway lb_lease_gw finds for IFACE in a lease file with TEXT, at the time now
   *  (as lb_gateway asks: date -u), or undefined */
  const gateway = (iface: string, text: string) => {
    const file = path.join(tmpdir(), 'dhclient.leases');
    fs.writeFileSync(file, `default-duid "\\000\\001\\000\\001";\n${text}`);
    const r = runtime(`lb_lease_gw ${iface} "$(date -u +'%Y%m%d%H%M%S %s')" '${file}'`);
    expect(r.stderr).toBe('');
    expect(r.status === 0, r.stdout).toBe(r.stdout !== '');
    return r.status === 0 ? r.stdout.trim() : undefined;
  };

  it('takes the router of a lease of the interface that has not expired', () => {
    expect(gateway('wan2', lease('wan2', '10.1.2.1', FUTURE))).toBe('10.1.2.1');
  });

  it('never takes an expired lease', () => {
    expect(gateway('wan2', lease('wan2', '10.1.2.1', PAST))).toBeUndefined();
    // an hour ago, in UTC: the runtime compares in UTC as dhclient writes
    const hourAgo = new Date(Date.now() - 3600_000).toISOString().replace(/-/g, '/').replace('T', ' ').slice(0, 19);
    expect(gateway('wan2', lease('wan2', '10.1.2.1', `3 ${hourAgo}`))).toBeUndefined();
    const inAnHour = new Date(Date.now() + 3600_000).toISOString().replace(/-/g, '/').replace('T', ' ').slice(0, 19);
    expect(gateway('wan2', lease('wan2', '10.1.2.1', `3 ${inAnHour}`))).toBe('10.1.2.1');
  });

  it('never takes another interface\'s lease (dhclient.leases holds every interface\'s)', () => {
    expect(gateway('wan2', lease('wan3', '10.1.3.1', FUTURE))).toBeUndefined();
    expect(gateway('wan2', lease('wan22', '10.1.3.1', FUTURE))).toBeUndefined();
    expect(gateway('wan2', lease('wan2', '10.1.2.1', FUTURE) + lease('wan3', '10.1.3.1', FUTURE))).toBe('10.1.2.1');
  });

  it('takes the newest of several leases (the last written), when it is unexpired', () => {
    const older = lease('wan2', '10.1.2.1', FUTURE);
    expect(gateway('wan2', older + lease('wan2', '10.1.2.254', FUTURE))).toBe('10.1.2.254');
    expect(gateway('wan2', older + lease('wan2', '10.1.2.254', PAST))).toBe('10.1.2.1');
    expect(gateway('wan2', lease('wan2', '10.1.2.254', PAST) + older + lease('wan3', '10.1.3.1', FUTURE))).toBe('10.1.2.1');
  });

  it('counts "expire never" and a future "expire epoch" as unexpired', () => {
    expect(gateway('wan2', lease('wan2', '10.1.2.1', 'never'))).toBe('10.1.2.1');
    expect(gateway('wan2', lease('wan2', '10.1.2.1', 'epoch 4102444800; # Fri Jan 01 00:00:00 2100'))).toBe('10.1.2.1');
    expect(gateway('wan2', lease('wan2', '10.1.2.1', 'epoch 978307200; # Mon Jan 01 00:00:00 2001'))).toBeUndefined();
  });

  it('takes only an IPv4 address, the first of several routers, and nothing from a lease without one', () => {
    expect(gateway('wan2', lease('wan2', '10.1.2.1, 10.1.2.2', FUTURE))).toBe('10.1.2.1');
    for (const bad of ['010.001.002.001', '999.1.1.1', '10.1.2', 'fe80::1']) {
      expect(gateway('wan2', lease('wan2', bad, FUTURE)), bad).toBeUndefined();
    }
    expect(gateway('wan2', lease('wan2', undefined, FUTURE))).toBeUndefined();
    // the newest lease has no router: an older lease's is not taken instead
    expect(gateway('wan2', lease('wan2', '10.1.2.1', FUTURE) + lease('wan2', undefined, FUTURE))).toBeUndefined();
    expect(gateway('wan2', 'lease {\n  interface "wan2";\n  option routers 10.1.2.1;\n')).toBeUndefined(); // cut short
  });

  it('takes the default route of the classless static routes (option 121) over option routers, as the enter hook does', () => {
    const with121 = (routes: string, router = '10.1.2.1') =>
      lease('wan2', router, FUTURE).replace('  option dhcp-lease-time', `  option rfc3442-classless-static-routes ${routes};\n  option dhcp-lease-time`);
    // 10.9.9.0/24 via 10.1.2.7, then 0.0.0.0/0 via 10.1.2.254
    expect(gateway('wan2', with121('24,10,9,9,10,1,2,7,0,10,1,2,254'))).toBe('10.1.2.254');
    // 203.0.113.128/25 (4 bytes of network), 10.0.0.0/8 (1), then the default route
    expect(gateway('wan2', with121('25,203,0,113,128,10,1,2,9,8,10,10,1,2,8,0,10,1,2,253'))).toBe('10.1.2.253');
    // no default route among them: option routers
    expect(gateway('wan2', with121('24,10,9,9,10,1,2,7'))).toBe('10.1.2.1');
    // cut short before the default route's gateway
    expect(gateway('wan2', with121('24,10,9,9,10,1,2,7,0,10,1'))).toBe('10.1.2.1');
    expect(gateway('wan2', with121('0,010,1,2,254'))).toBeUndefined(); // not a plain IPv4 address
  });
});
