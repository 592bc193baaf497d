// bench/workload.mjs: the bench's two workloads, shared by bench.mjs (the lab) and sim.mjs
// (the fluid model), so both measure the same downloads.
//
// equal: 42 downloads of 1 MB (1,000,000 bytes), 6 at a time.
// pareto: 60 downloads whose sizes follow a Pareto distribution of shape 1.2 (a few large
//   transfers among many small ones, as web traffic is), drawn with a fixed seed and scaled
//   so they add up to exactly 40 MB, 6 at a time. The same sizes, in the same order, every run.

// mulberry32: a small deterministic PRNG, so runs repeat
export function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** count sizes in bytes: Pareto(shape), inverse transform of seeded uniforms, scaled to total. */
export function paretoSizes({ count = 60, total = 40_000_000, shape = 1.2, seed = 1 } = {}) {
  const rnd = prng(seed);
  const raw = Array.from({ length: count }, () => (1 - rnd()) ** (-1 / shape));
  const sum = raw.reduce((s, x) => s + x, 0);
  const sizes = raw.map((x) => Math.max(1, Math.round((x * total) / sum)));
  sizes[sizes.length - 1] += total - sizes.reduce((s, x) => s + x, 0);
  return sizes;
}

export const WORKLOADS = {
  equal: { sizes: Array(42).fill(1_000_000), parallel: 6, label: '42 x 1 MB' },
  pareto: { sizes: paretoSizes(), parallel: 6, label: '60 Pareto(1.2) sizes, 40 MB' },
};
