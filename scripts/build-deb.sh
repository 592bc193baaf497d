#!/bin/sh
# Build linkbal_<version>_all.deb with plain dpkg-deb, reproducibly:
#   sh scripts/build-deb.sh [OUTDIR]      (default dist; `make deb` runs it)
# The version is package.json's and must equal debian/changelog's; every time stamp is
# SOURCE_DATE_EPOCH, taken from debian/changelog. Needs node_modules (esbuild), dpkg-dev.
set -eu
cd "$(dirname "$0")/.."
out=${1:-dist}

die() {
	echo "build-deb: $*" >&2
	exit 1
}
for b in dpkg-deb dpkg-parsechangelog gzip node; do
	command -v "$b" >/dev/null || die "$b is missing (make deps)"
done
[ -x node_modules/.bin/esbuild ] || die "node_modules/.bin/esbuild is missing (run make)"

version=$(node -p 'require("./package.json").version')
changelog_version=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "$version" = "$changelog_version" ] ||
	die "package.json says $version, debian/changelog says $changelog_version: add a changelog entry (dch -v $version)"
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l debian/changelog -S Timestamp)
export SOURCE_DATE_EPOCH
LC_ALL=C
export LC_ALL
umask 022

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/linkbal-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
pkg="$work/pkg"
share="$pkg/usr/share/linkbal"
doc="$pkg/usr/share/doc/linkbal"
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$share/templates" "$doc" "$pkg/usr/share/man/man1"

# One ESM file for Node 18. Bundled CommonJS (handlebars, fs-extra) calls require():
# give it one made by createRequire.
node_modules/.bin/esbuild src/cli.ts --bundle --platform=node --format=esm --target=node18 \
	--charset=utf8 --legal-comments=eof --log-level=warning \
	--metafile="$work/meta.json" --outfile="$share/linkbal-gen.mjs" \
	--banner:js="#!/usr/bin/node
// linkbal-gen $version: bundled by scripts/build-deb.sh from linkbal's src/ and its npm dependencies
import { createRequire as __linkbalCreateRequire } from 'node:module';
const require = __linkbalCreateRequire(import.meta.url);"
ln -s ../share/linkbal/linkbal-gen.mjs "$pkg/usr/bin/linkbal-gen"

# Every npm package in the bundle must be named in debian/copyright.
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
const m = require(process.argv[1]);
const pkgs = new Set(Object.keys(m.inputs).map((k) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(k)?.[1]).filter(Boolean));
const copyright = require("fs").readFileSync("debian/copyright", "utf8");
const missing = [...pkgs].filter((p) => !copyright.includes(`(${p})`));
if (missing.length) { console.error(`build-deb: bundled but not in debian/copyright: ${missing.join(", ")}`); process.exit(1); }
' "$work/meta.json"

# The templates, as in the checkout (not editor or backup files).
(cd templates && find . -type f \( -name '*.hbs' -o -name '*.sh' \) ! -name '.*' -print) | sort |
	while read -r f; do
		mkdir -p "$share/templates/$(dirname "$f")"
		cp "templates/$f" "$share/templates/$f"
	done

# What linkbal-gen --deb puts in every site package beside the rendered files: its
# maintainer scripts and copyright (src/deb.ts reads them here, or from debian/site).
mkdir -p "$share/site"
cp debian/site/preinst debian/site/postinst debian/site/prerm debian/site/postrm debian/site/copyright \
	debian/site/nftables-reload.conf debian/site/netfilter-persistent-plugin "$share/site/"

# After a firewall reload, linkbal's rules are loaded again (if /etc/linkbal/rules is there
# and started): a drop-in for nftables.service, a plugin for netfilter-persistent. The site
# package ships the same two files under names of its own (src/deb.ts).
mkdir -p "$pkg/usr/lib/systemd/system/nftables.service.d" "$pkg/usr/share/netfilter-persistent/plugins.d"
cp debian/site/nftables-reload.conf "$pkg/usr/lib/systemd/system/nftables.service.d/linkbal.conf"
cp debian/site/netfilter-persistent-plugin "$pkg/usr/share/netfilter-persistent/plugins.d/90-linkbal"

# The linkbal command, /usr/sbin/linkbal: an alternative (postinst), as linkbal-site ships
# it too (src/deb.ts copies these two into it), and both packages may be installed.
cp debian/linkbal "$share/linkbal"
gzip -9n <debian/linkbal.8 >"$share/linkbal.8.gz"

gzip -9n <debian/linkbal-gen.1 >"$pkg/usr/share/man/man1/linkbal-gen.1.gz"
gzip -9n <debian/changelog >"$doc/changelog.gz"
cp debian/copyright "$doc/copyright"
cp debian/postinst "$pkg/DEBIAN/postinst"
cp debian/prerm "$pkg/DEBIAN/prerm"
cp debian/postrm "$pkg/DEBIAN/postrm"
mkdir -p "$pkg/usr/share/lintian/overrides"
cp debian/lintian-overrides "$pkg/usr/share/lintian/overrides/linkbal"

# Modes and times, explicitly.
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -type f -exec chmod 0644 {} +
chmod 0755 "$share/linkbal-gen.mjs" "$share/linkbal" "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm" \
	"$pkg/usr/share/netfilter-persistent/plugins.d/90-linkbal"
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) >"$pkg/DEBIAN/md5sums"
# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, 1 per directory and link.
size=$(cd "$pkg" && find . -path ./DEBIAN -prune -o ! -name . -printf '%y %s\n' |
	awk '$1 == "f" { k += int(($2 + 1023) / 1024); next } { k += 1 } END { print k }')
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" debian/control >"$pkg/DEBIAN/control"
chmod 0644 "$pkg/DEBIAN/md5sums" "$pkg/DEBIAN/control"
touch -d "@$SOURCE_DATE_EPOCH" "$pkg/DEBIAN" "$pkg/DEBIAN/md5sums" "$pkg/DEBIAN/control"

deb="$out/linkbal_${version}_all.deb"
dpkg-deb --root-owner-group -Zxz --threads-max=1 --build "$pkg" "$deb.tmp" >/dev/null
mv "$deb.tmp" "$deb"
echo "$deb"
