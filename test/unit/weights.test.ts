// The runtime's weight arithmetic (templates/lib/weights.sh, run by sh) against the reference.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import path from 'node:path';
import { REPO, sh } from '../helpers.js';
import { cascade, gcdAll, swrr } from './reference.js';

const LIB = path.join(REPO, 'templates/lib/weights.sh');
const call = (fn: string, args: string[]) => {
  const r = sh(`. '${LIB}'; ${fn} ${args.join(' ')}`);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim().split(/\s+/).filter(Boolean);
};
const pairs = (ws: number[]) => ws.map((w, i) => `${i + 1}:${w}`);

describe('weight arithmetic in the sh runtime', () => {
  it('orders 4:2:1 as a b a c a b a (smooth, not a a a a b b c)', () => {
    expect(call('lb_swrr', ['2:4', '3:2', '4:1'])).toEqual(['2', '3', '2', '4', '2', '3', '2']);
  });

  it('gives the HOWTO layout 1:2:1 an exact 1:2:1 in every 4 connections', () => {
    const order = call('lb_swrr', ['1:1', '2:2', '3:1']);
    expect(order.slice().sort()).toEqual(['1', '2', '2', '3']);
  });

  it('matches the reference smooth round robin for any weights', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }), (ws) => {
      const got = call('lb_swrr', pairs(ws)).map(Number);
      expect(got).toEqual(swrr(ws.map((weight, i) => ({ mark: i + 1, weight }))));
      // exact shares: each mark appears as often as its weight
      ws.forEach((w, i) => expect(got.filter((m) => m === i + 1).length).toBe(w));
    }), { numRuns: 40 });
  });

  it('orders --mode least\'s slots: each to the fewest per unit of weight, a tie to the heavier, then the first', () => {
    expect(call('lb_slots', ['10', '2:4', '3:2', '4:1'])).toEqual(['2', '3', '4', '2', '2', '3', '2', '2', '3', '4']);
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 40 }), (ws, n) => {
      const got = call('lb_slots', [String(n), ...pairs(ws)]).map(Number);
      // the reference: greedy, c/w smallest, then the larger w, then the first; weight 0 never
      const c = ws.map(() => 0), want: number[] = [];
      for (let k = 0; k < n && ws.some((w) => w > 0); k++) {
        let best = -1;
        ws.forEach((w, i) => {
          if (w === 0) return;
          const b = best < 0 ? 0 : (ws[best] as number);
          const lhs = (c[i] as number) * b, rhs = best < 0 ? 0 : (c[best] as number) * w;
          if (best < 0 || lhs < rhs || (lhs === rhs && w > b)) best = i;
        });
        c[best] = (c[best] as number) + 1;
        want.push(best + 1);
      }
      expect(got).toEqual(want);
    }), { numRuns: 40 });
  });

  it('reduces weights by their gcd', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 6 }), (ws) => {
      const g = gcdAll(ws);
      expect(call('lb_reduce', pairs(ws))).toEqual(ws.map((w, i) => `${i + 1}:${w / g}`));
    }), { numRuns: 40 });
  });

  it('cascades probabilities so the shares are exact (the HOWTO used 34%, 50%, rest)', () => {
    expect(call('lb_cascade', ['1:1', '2:1', '3:1'])).toEqual(['1:0.33333333', '2:0.50000000', '3:1']);
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 6 }), (ws) => {
      const got = call('lb_cascade', pairs(ws)).map((p) => Number(p.split(':')[1]));
      const want = cascade(ws);
      got.forEach((p, i) => expect(Math.abs(p - (want[i] as number))).toBeLessThan(1e-8));
      expect(got[got.length - 1]).toBe(1);
      // the probability that link i is taken: p_i times what the links before it left
      let left = 1;
      const total = ws.reduce((a, b) => a + b, 0);
      got.forEach((p, i) => {
        expect(Math.abs(left * p - (ws[i] as number) / total)).toBeLessThan(1e-6);
        left *= 1 - p;
      });
    }), { numRuns: 40 });
  });
});
