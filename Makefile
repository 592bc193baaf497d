# make         install npm packages and build; then bin/linkbal-gen runs from the checkout
# make unit    the quick loop: no root, about 35 s (the generator, golden files, the sh runtime)
# make check   install what the tests need (Debian packages too), lint, then the tiers, cheapest
#              first, stopping at the first that fails: unit, kernel (root: rulesets through the
#              kernel's checks), e2e (root: the lab), pkg (root: the Debian packages), trixie
#              (root: part of e2e and the packages on the lab with a Debian 13 userland), systemd
#              (root: the background programs outlive the ifup@ unit that started them, under
#              systemd in systemd-nspawn; a Debian root debootstrapped once)
# make demo    see linkbal balance three uplinks in a throwaway lab (root)
# make bench   throughput against the physical limit and the HOWTO's method (root)
# make deb     dist/linkbal_<version>_all.deb
.PHONY: all build deps lint unit kernel e2e pkg trixie systemd test check demo bench deb clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

build: node_modules/.package-lock.json
	npx tsc -p tsconfig.json

deps:
	sh scripts/deps.sh

lint: build
	npx tsc -p tsconfig.test.json
	shellcheck -s sh templates/lib/*.sh scripts/*.sh debian/linkbal debian/postinst debian/prerm debian/postrm debian/site/preinst debian/site/postinst debian/site/prerm debian/site/postrm debian/site/netfilter-persistent-plugin
	shellcheck test/lab/*.sh test/systemd/*.sh bench/*.sh

# unit and e2e: their files two at a time (each e2e file has labs of its own, named apart);
# kernel and pkg one file at a time (vitest.config.ts)
unit: build
	npx vitest run --fileParallelism --maxWorkers 2 test/unit/

kernel: build
	npx vitest run test/kernel/

e2e: build
	npx vitest run --fileParallelism --maxWorkers 2 --minWorkers 2 test/e2e/

pkg: build
	npx vitest run test/deb/

# the lab's host namespace runs trixie's sh, ip, nft, iptables, ifupdown, dhclient, conntrack,
# nodejs and apt (a debootstrapped root, built once into /var/cache/lab-roots: scripts/trixie-root.sh)
TRIXIE_TESTS = test/trixie/ test/e2e/balance.test.ts test/e2e/least.test.ts test/e2e/dhcp.test.ts test/e2e/status-json.test.ts test/deb/router.test.ts
trixie: build
	root=$$(sh scripts/trixie-root.sh) && LINKBAL_LAB_USERLAND=$$root npx vitest run $(TRIXIE_TESTS)

systemd: deps build
	bash test/systemd/scope.sh

test: unit kernel e2e pkg trixie systemd

check: deps lint unit kernel e2e pkg trixie systemd

demo: deps build
	bash test/lab/demo.sh

bench: deps build
	bash bench/run.sh

deb: node_modules/.package-lock.json
	sh scripts/build-deb.sh dist

clean:
	rm -rf dist node_modules test/golden/*/actual
