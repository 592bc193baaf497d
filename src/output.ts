// Files to a root directory: every file rendered before any is written, each written to a
// temporary file beside its target and renamed over it, with an explicit mode.
import fs from 'fs-extra';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import type { RenderedFile } from './render.js';

/** One file to write: what is rendered, where it goes, and what is there now. */
export interface Change { file: RenderedFile; target: string; before?: string }

/** The writes that would put `files` under `root`, each with the file it replaces. */
export async function planWrites(root: string, files: RenderedFile[]): Promise<Change[]> {
  return Promise.all(files.map(async (file) => {
    const target = path.join(root, file.path);
    const before = (await fs.pathExists(target)) ? await fs.readFile(target, 'utf8') : undefined;
    return { file, target, before };
  }));
}

export function changed(c: Change): boolean {
  return c.before !== c.file.content;
}

/** What --dry-run shows: a new file whole, a changed one as a diff, an unchanged one by name. */
export function describe(c: Change): string {
  if (c.before === undefined) return `would write ${c.target} (mode ${c.file.mode.toString(8)}):\n${c.file.content}`;
  if (!changed(c)) return `unchanged ${c.target}\n`;
  return createTwoFilesPatch(c.target, c.target, c.before, c.file.content, '', '', { context: 3 });
}

/** All temporary files first, then the renames: a failure part-way writes nothing (and
 *  takes back the directories it made). */
export async function write(changes: Change[]): Promise<void> {
  const temps: string[] = [];
  const dirs: string[] = [];
  try {
    for (const c of changes) {
      const made = await fs.promises.mkdir(path.dirname(c.target), { recursive: true, mode: 0o755 });
      if (made) dirs.push(made);
      const tmp = path.join(path.dirname(c.target), `.${path.basename(c.target)}.linkbal-new`);
      temps.push(tmp);
      // not executable until renamed: ifupdown2 would run a stray file in if-up.d
      await fs.writeFile(tmp, c.file.content, { mode: 0o600 });
    }
  } catch (e) {
    await Promise.all(temps.map((t) => fs.remove(t)));
    for (const d of dirs.reverse()) await fs.remove(d);
    throw e;
  }
  for (const [i, c] of changes.entries()) {
    await fs.chmod(temps[i] as string, c.file.mode);
    await fs.rename(temps[i] as string, c.target);
  }
}
