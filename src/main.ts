// run(argv, io) -> exit status: 0 done, 1 failure at run time, 2 bad usage or input.
// What run() reads about the machine and what it prints go through io (standard output and
// error, the config file, whether --root is a directory, whether nft is installed, the
// environment), so tests run it in-process with their own. Not through io: its products,
// the files under --root (output.ts) or the --deb package (deb.ts: a staging directory and
// dpkg-deb), and its own data beside its code (the templates, debian/site/).
import { Command, CommanderError, Option } from 'commander';
import { type Key, type Problem, type Settings, addSetting, emptySettings, overlay } from './settings.js';
import { parseConfig } from './config.js';
import { show, validate } from './validate.js';
import { type Backend, DEFAULT_MARK_MASK, DEFAULT_PREF, DEFAULT_PROBES, DEFAULT_PROBES6, DEFAULT_TABLE_BASE, MAX_PROBES, hex } from './model.js';
import { render } from './render.js';
import { changed, describe, planWrites, write } from './output.js';
import { VERSION } from './version.js';
import { DebError, buildEpoch, buildSitePackage, maintainer, maintainerProblems } from './deb.js';

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  readFile(file: string): Promise<string>;
  /** Whether there is a directory at this path (false if it cannot be seen at all). */
  isDirectory(file: string): Promise<boolean>;
  /** The backend to use when none is given: nftables where nft is installed. */
  autoBackend(): Backend;
  /** for --deb: SOURCE_DATE_EPOCH, DEBFULLNAME, DEBEMAIL; TMPDIR and PATH (dpkg-deb) */
  env: Readonly<Record<string, string | undefined>>;
}

const SETTING_FLAGS: { key: Key; arg: string; help: string }[] = [
  { key: 'iface', arg: '<IFACE>', help: 'an uplink; --gw, --gw6, --weight and --tier after it are its own' },
  { key: 'gw', arg: '<GATEWAY>', help: "the uplink's gateway: an IPv4 address, or dhcp to find it at ifup" },
  { key: 'gw6', arg: '<GATEWAY6>', help: "balance the uplink's IPv6 too, through this IPv6 next hop, or auto: the router " +
    'its router advertisements name (without it, IPv6 is left alone)' },
  { key: 'weight', arg: '<N>', help: "the uplink's share of new connections, 1-1000 (default 1), or auto: learned from what each link delivers" },
  { key: 'tier', arg: '<N>', help: "the uplink's failover tier, 1-9 (default 1: primary; higher: a backup, used when no lower tier works)" },
  { key: 'default-weight', arg: '<N>', help: "the default link's share, 0-1000 (default 1; 0: only when no uplink is up)" },
  { key: 'default-tier', arg: '<N>', help: "the default link's failover tier, 1-9 (default 1: primary)" },
  { key: 'mode', arg: '<MODE>', help: 'least (each new TCP connection to the link with the fewest open ones per unit of weight; nftables; its default), nth (weighted round robin, exact shares; the default with iptables), random, or hash (by destination)' },
  { key: 'backend', arg: '<BACKEND>', help: 'nftables or iptables (default: nftables where nft is installed)' },
  { key: 'bypass-dst', arg: '<CIDR>', help: 'connections to this network (IPv4, or IPv6 with --gw6) always use the default link' },
  { key: 'bypass-port', arg: '<PROTO/PORTS>', help: 'tcp or udp ports (21,22,8000-8100) that always use the default link' },
  { key: 'lan', arg: '<IFACE>', help: 'balance connections forwarded from this LAN interface too' },
  { key: 'probe', arg: '<ADDR>', help: 'an IPv4 or IPv6 address each link pings through itself, in that family, to tell ' +
    `whether it works (repeatable, at most ${MAX_PROBES} a family; the list replaces both defaults, ` +
    `${DEFAULT_PROBES.join(' ')} and for --gw6 links ${DEFAULT_PROBES6.join(' ')}), or none: no tracking` },
  { key: 'mark-mask', arg: '<MASK>', help: `the bits of the packet and conntrack marks linkbal may use, one run of bits, hex or decimal ` +
    `(default ${hex(DEFAULT_MARK_MASK)})` },
  { key: 'pref', arg: '<N>', help: `the first ip rule priority linkbal uses: N, then N+2.. for the uplinks (default ${DEFAULT_PREF})` },
  { key: 'table-base', arg: '<N>', help: `the uplinks use routing tables N+2, N+3, ... (default ${DEFAULT_TABLE_BASE})` },
];

function program(io: Io, cli: Settings) {
  const counts = new Map<string, number>();
  const add = (key: Key) => (value: string) => {
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    addSetting(cli, key, { value, where: `--${key} #${n}` });
    return value;
  };
  const cmd = new Command('linkbal-gen')
    .description('Render the ifupdown hooks and rules that balance new connections over several uplinks.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .allowExcessArguments(false);
  for (const f of SETTING_FLAGS) cmd.addOption(new Option(`--${f.key} ${f.arg}`, f.help).argParser(add(f.key)));
  cmd.option('--flush-on-down', 'when a link goes down, drop its connections so clients retry at once', () => {
    add('flush-on-down')('yes');
    return true;
  });
  cmd.option('--root <DIR>', 'where the files go', '/');
  cmd.option('--dry-run', 'show what would be written (new files whole, changes as a diff), write nothing');
  cmd.addOption(new Option('--deb <FILE>', 'write no files: build the Debian package linkbal-site holding them, for a router without Node.js')
    .conflicts(['root', 'dryRun']));
  cmd.option('--config <FILE>', 'read settings from FILE (as saved in /etc/linkbal/linkbal.conf); flags override it');
  return cmd;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const cli = emptySettings();
  const cmd = program(io, cli);
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    throw e;
  }
  const opts = cmd.opts<{ root: string; dryRun?: boolean; config?: string; deb?: string }>();
  const problems: Problem[] = [];

  let settings = cli;
  if (opts.config !== undefined) {
    try {
      const parsed = parseConfig(await io.readFile(opts.config), opts.config);
      problems.push(...parsed.problems);
      settings = overlay(parsed.settings, cli);
    } catch (e) {
      problems.push({ where: '--config', message: `${show(opts.config)} cannot be read: ${(e as Error).message}` });
    }
  }
  if (opts.deb === undefined && !(await io.isDirectory(opts.root))) {
    problems.push({ where: '--root', message: `${show(opts.root)} is not a directory` });
  }

  const epoch = buildEpoch(io.env);
  if (opts.deb !== undefined && epoch === undefined) {
    problems.push({ where: 'SOURCE_DATE_EPOCH', message: `${show(io.env.SOURCE_DATE_EPOCH ?? '')} is not seconds since 1970` });
  }
  if (opts.deb !== undefined) problems.push(...maintainerProblems(io.env));

  const result = validate(settings, io.autoBackend);
  if (!result.ok) problems.push(...result.problems);
  if (problems.length || !result.ok) {
    for (const p of problems) io.stderr(`linkbal-gen: ${p.where}: ${p.message}\n`);
    io.stderr('linkbal-gen: nothing written; see linkbal-gen --help\n');
    return 2;
  }
  for (const w of result.warnings) io.stderr(`linkbal-gen: warning: ${w.where}: ${w.message}\n`);

  if (opts.deb !== undefined) {
    try {
      const version = buildSitePackage(opts.deb, {
        plan: result.plan, files: render(result.plan), epoch: epoch as number, maintainer: maintainer(io.env),
      }, io.env);
      io.stdout(`wrote ${opts.deb}: linkbal-site ${version}\n` +
        `On the router: apt install ./${opts.deb.replace(/^.*\//, '')}   (it runs /etc/linkbal/rules restart)\n`);
      return 0;
    } catch (e) {
      if (!(e instanceof DebError)) throw e;
      io.stderr(`linkbal-gen: ${e.message}; nothing written\n`);
      return 1;
    }
  }

  const changes = await planWrites(opts.root, render(result.plan));
  if (opts.dryRun) {
    for (const c of changes) io.stdout(describe(c));
    return 0;
  }
  try {
    await write(changes.filter(changed));
  } catch (e) {
    io.stderr(`linkbal-gen: ${(e as Error).message}; nothing written\n`);
    return 1;
  }
  for (const c of changes) io.stdout(`${changed(c) ? 'wrote' : 'unchanged'} ${c.target}\n`);
  io.stdout(
    'Each listed link is balanced from its next ifup. For links that are up already:\n' +
    '  /etc/linkbal/rules restart     (then: /etc/linkbal/rules status)\n',
  );
  return 0;
}
