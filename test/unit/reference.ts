// The weight arithmetic, as a plain specification the sh runtime is checked against.
export function gcdAll(ws: number[]): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  return ws.reduce((g, w) => gcd(w, g), 0);
}

/** Smooth weighted round robin (nginx): one pick per unit of weight. */
export function swrr(items: { mark: number; weight: number }[]): number[] {
  const total = items.reduce((s, i) => s + i.weight, 0);
  const current = items.map(() => 0);
  const out: number[] = [];
  for (let k = 0; k < total; k++) {
    let best = 0;
    items.forEach((it, i) => {
      current[i] = (current[i] as number) + it.weight;
      if ((current[i] as number) > (current[best] as number)) best = i;
    });
    current[best] = (current[best] as number) - total;
    out.push((items[best] as { mark: number }).mark);
  }
  return out;
}

/** Cascaded probabilities: p_i = w_i / (w_i + ... + w_n). */
export function cascade(ws: number[]): number[] {
  return ws.map((w, i) => w / ws.slice(i).reduce((a, b) => a + b, 0));
}
