// `rules status --json` is printed by awk (templates/lib/status.sh): its js() must give a
// JSON string for any text a link's row may hold (a tracker's reason, a name), under each
// awk a router may have (mawk, Debian's default; gawk; busybox awk).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO } from '../helpers.js';

const LIB = path.join(REPO, 'templates/lib/status.sh');
const AWKS = [['mawk'], ['gawk'], ['busybox', 'awk']].filter(([bin]) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0);

/** The JSON text js() makes of each line of input, under AWK. */
function js(awk: string[], lines: string[]): string[] {
  const r = spawnSync('sh', ['-c', `. '${LIB}'; "$@" "$LB_AWK_JSON"' { print js($0) }'`, 'sh', ...awk],
    { input: lines.map((l) => `${l}\n`).join(''), encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').slice(0, -1);
}

describe('status --json: strings escaped for JSON', () => {
  it('has mawk at least', () => expect(AWKS.map((a) => a[0])).toContain('mawk'));

  it.each(AWKS)('under %s: quotes, backslashes and control characters', (...awk) => {
    const tricky = ['plain', 'say "hi"', 'back\\slash', 'tab\there', 'bell\u0007 esc\u001b', '\\"', '', 'ünï'];
    const out = js(awk, tricky);
    expect(out.map((o) => JSON.parse(o))).toEqual(tricky);
    expect(out[4]).toBe('"bell\\u0007 esc\\u001b"');
  });

  it.each(AWKS)('under %s: any printable text round-trips', (...awk) => {
    fc.assert(fc.property(fc.array(fc.string({ unit: fc.integer({ min: 1, max: 126 }).filter((c) => c !== 10).map((c) => String.fromCharCode(c)) }), { minLength: 1, maxLength: 20 }), (ss) => {
      expect(js(awk, ss).map((o) => JSON.parse(o))).toEqual(ss);
    }), { numRuns: 20 });
  });
});
