// The entry: the only place that touches process and exits.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { run } from './main.js';

const io = {
  stdout: (t: string) => { process.stdout.write(t); },
  stderr: (t: string) => { process.stderr.write(t); },
  readFile: (f: string) => readFile(f, 'utf8'),
  env: process.env,
  autoBackend: () =>
    ['/usr/sbin/nft', '/sbin/nft'].some((p) => existsSync(p)) ? ('nftables' as const) : ('iptables' as const),
};

run(process.argv.slice(2), io).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    process.stderr.write(`linkbal-gen: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  },
);
