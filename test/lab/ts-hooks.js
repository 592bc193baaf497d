// Node module hooks that let plain node import the lab harness, lab.ts, as the tests do
// under vitest: bench/bench.mjs registers them (module.register, Node >= 18.19). Types
// are stripped by esbuild (a devDependency), nothing is checked: `make lint` does that.
import { readFile } from 'node:fs/promises';
import { transform } from 'esbuild';

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const source = await readFile(new URL(url), 'utf8');
  const { code } = await transform(source, { loader: 'ts', format: 'esm', sourcefile: url });
  return { format: 'module', source: code, shortCircuit: true };
}
