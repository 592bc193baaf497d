// Plan -> files. Pure: reads the templates, returns paths, modes and contents, prints nothing.
import Handlebars from 'handlebars';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Plan } from './model.js';
import { formatConfig } from './config.js';
import { iptablesView } from './backends/iptables.js';
import { nftablesView } from './backends/nftables.js';
import { VERSION } from './version.js';

export interface RenderedFile {
  path: string; // relative to the root, like "etc/linkbal/rules"
  mode: number;
  content: string;
}

/** POSIX shell quoting: integers bare, everything else in single quotes (each ' as '\\''),
 *  so that no word reads as a command either (MODE=hash). */
export function shq(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v !== 'string') throw new Error(`shq: expected a string, got ${typeof v}`);
  if (v.includes('\0')) throw new Error('shq: NUL cannot be quoted');
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/** A value placed in rules text (iptables-restore or nft input, inside a quoted here-document):
 *  no quoting applies there, so only words of these characters are let through. */
export function word(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v !== 'string' || !/^[A-Za-z0-9_.:/, -]+$/.test(v) || /^-|\s-|'|EOF/.test(v)) {
    throw new Error(`word: refusing ${JSON.stringify(v)} in rules text`);
  }
  return v;
}

function templatesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'templates'), path.join(here, '..', 'templates')]) {
    if (existsSync(path.join(dir, 'rules.sh.hbs'))) return dir;
  }
  throw new Error(`templates not found next to ${here}`);
}

function compiler() {
  const hb = Handlebars.create();
  hb.registerHelper('shq', shq);
  hb.registerHelper('word', word);
  const dir = templatesDir();
  const read = (name: string) => readFileSync(path.join(dir, name), 'utf8');
  const compile = (name: string) =>
    hb.compile(read(name), { noEscape: true, strict: true, knownHelpers: { shq: true, word: true }, knownHelpersOnly: true });
  return { read, compile };
}

export function render(plan: Plan): RenderedFile[] {
  const { read, compile } = compiler();
  const linksTable = plan.links.map((l) => `${l.iface} ${l.gw} ${l.weight} ${l.mark} ${l.table}`).join('\n');
  const view = {
    ...plan,
    version: VERSION,
    iptables: plan.backend === 'iptables',
    flushOnDown: plan.flushOnDown ? 1 : 0,
    auto: plan.auto ? 1 : 0,
    linksTable: `\n${linksTable}\n`,
    ...iptablesView(plan),
    ...nftablesView(plan),
    ruleset: compile(`${plan.backend}.hbs`),
    libCommon: read('lib/common.sh'),
    libBackend: read(`lib/${plan.backend}.sh`),
  };
  view.ruleset = view.ruleset(view) as never;
  return [
    { path: 'etc/network/if-up.d/linkbal', mode: 0o755, content: compile('if-up.sh.hbs')(view) },
    { path: 'etc/network/if-down.d/linkbal', mode: 0o755, content: compile('if-down.sh.hbs')(view) },
    { path: 'etc/linkbal/rules', mode: 0o755, content: compile('rules.sh.hbs')(view) },
    { path: 'etc/linkbal/linkbal.conf', mode: 0o644, content: formatConfig(plan) },
  ];
}
