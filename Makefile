# make         install npm packages and build; then bin/linkbal-gen runs from the checkout
# make check   install what the tests need (Debian packages too), lint, unit and lab tests
# make demo    see linkbal balance three uplinks in a throwaway lab (root)
# make bench   throughput against the physical limit and the HOWTO's method (root)
# make deb     dist/linkbal_<version>_all.deb
.PHONY: all build deps lint test check demo bench deb clean

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

build: node_modules/.package-lock.json
	npx tsc -p tsconfig.json

deps:
	sh scripts/deps.sh

lint: build
	npx tsc -p tsconfig.test.json
	shellcheck -s sh templates/lib/*.sh scripts/*.sh debian/postrm debian/site/postinst debian/site/prerm
	shellcheck test/lab/*.sh bench/*.sh

test: build
	npx vitest run

check: deps lint test

demo: deps build
	bash test/lab/demo.sh

bench: deps build
	bash bench/run.sh

deb: node_modules/.package-lock.json
	sh scripts/build-deb.sh dist

clean:
	rm -rf dist node_modules test/golden/*/actual
