// Golden files: each test/golden/<case>/args (one argument a line) renders exactly
// test/golden/<case>/expected/. UPDATE_GOLDEN=1 rewrites expected/ on purpose.
// Every rendered script also goes through sh -n, shellcheck and checkbashisms; every
// ruleset it can load goes through the kernel's own check in test/kernel (root).
import { describe, expect, it } from 'vitest';
import fs from 'fs-extra';
import path from 'node:path';
import { HOWTO_ARGS, REPO, cli, need, read, sh, tmpdir } from '../helpers.js';

const GOLDEN = path.join(REPO, 'test/golden');
const cases = fs.readdirSync(GOLDEN).filter((c) => fs.existsSync(path.join(GOLDEN, c, 'args')));

function files(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)))
    .sort();
}

async function renderCase(c: string): Promise<string> {
  const args = read(path.join(GOLDEN, c, 'args')).split('\n').filter(Boolean);
  const root = tmpdir();
  const r = await cli([...args, '--root', root]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return root;
}

describe('golden files', () => {
  it('covers the HOWTO example for both backends', () => {
    for (const b of ['iptables', 'nftables']) {
      expect(read(path.join(GOLDEN, `howto-${b}`, 'args')).split('\n').filter(Boolean))
        .toEqual([...HOWTO_ARGS, '--backend', b]);
    }
  });

  for (const c of cases) {
    it(`${c}: renders the expected files`, async () => {
      const root = await renderCase(c);
      const expected = path.join(GOLDEN, c, 'expected');
      if (process.env.UPDATE_GOLDEN) {
        await fs.remove(expected);
        await fs.copy(root, expected);
      }
      expect(files(root)).toEqual(files(expected));
      for (const f of files(root)) expect(read(path.join(root, f)), f).toBe(read(path.join(expected, f)));
      // modes: scripts 0755, config 0644, nothing group- or world-writable
      for (const f of files(root)) {
        const mode = fs.statSync(path.join(root, f)).mode & 0o777;
        expect(mode, f).toBe(f.endsWith('.conf') ? 0o644 : 0o755);
      }
      // two runs give the same bytes
      const again = await renderCase(c);
      for (const f of files(root)) expect(read(path.join(again, f))).toBe(read(path.join(root, f)));
    });

    it(`${c}: scripts pass sh -n, shellcheck and checkbashisms`, async () => {
      need('shellcheck', 'shellcheck');
      need('checkbashisms', 'devscripts');
      const root = await renderCase(c);
      for (const f of files(root).filter((x) => !x.endsWith('.conf'))) {
        const p = path.join(root, f);
        for (const cmd of [`sh -n '${p}'`, `shellcheck -s sh '${p}'`, `checkbashisms '${p}'`]) {
          const r = sh(cmd);
          expect(r.stdout + r.stderr, cmd).toBe('');
          expect(r.status, cmd).toBe(0);
        }
      }
    });
  }
});
