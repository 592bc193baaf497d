// The entry: the only place that touches process and exits.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { run } from './main.js';

let failed = false;

/** One line naming what failed (LINKBAL_DEBUG=1: the whole stack), and exit status 1. */
function fail(what: string, e: unknown): void {
  const debug = process.env.LINKBAL_DEBUG === '1' && e instanceof Error && e.stack;
  const text = debug || `${String(e).split('\n')[0]} (LINKBAL_DEBUG=1 shows the stack)`;
  process.stderr.write(`linkbal-gen: ${what}: ${text}\n`);
  failed = true;
  process.exitCode = 1;
}

// A reader that went away (`| head -1`, quitting less) is EPIPE: the stream is closed and
// what is still printed goes nowhere, quietly. run() decides the exit status: it writes
// the files before it prints, so a pipe that closes cannot undo them.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') fail('standard output', e); });
// standard error failing otherwise (a full disk) leaves nowhere to say so: exit 1 alone
process.stderr.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') { failed = true; process.exitCode = 1; }
});

const io = {
  stdout: (t: string) => { process.stdout.write(t); },
  stderr: (t: string) => { process.stderr.write(t); },
  readFile: (f: string) => readFile(f, 'utf8'),
  isDirectory: (f: string) => stat(f).then((s) => s.isDirectory(), () => false),
  env: process.env,
  autoBackend: () =>
    ['/usr/sbin/nft', '/sbin/nft'].some((p) => existsSync(p)) ? ('nftables' as const) : ('iptables' as const),
};

run(process.argv.slice(2), io).then(
  (code) => { if (!failed) process.exitCode = code; },
  (e: unknown) => fail('internal error', e),
);
