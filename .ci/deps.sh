#!/usr/bin/env bash
# Installs what the tests need when it is missing; cheap when nothing is.
# Runs as root in CI; elsewhere apt-get goes through sudo.
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

apt_updated=0
apt_install() {
	if [ "$apt_updated" -eq 0 ]; then
		$sudo apt-get update -qq
		apt_updated=1
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# itsdangerous: the reference signer the signature tests compare against.
if ! python3 -c 'import itsdangerous' 2>/dev/null; then
	echo "deps: python3 cannot import itsdangerous; installing Debian's python3-itsdangerous"
	apt_install python3-itsdangerous || true
	if ! python3 -c 'import itsdangerous' 2>/dev/null; then
		echo "deps: WARNING: $(command -v python3 || echo python3) still cannot import itsdangerous;" \
			"tests against the reference signer will not run" >&2
	fi
fi

# redis-server: the backend of the many-nodes tests.
if ! command -v redis-server >/dev/null 2>&1; then
	echo "deps: redis-server is missing; installing it"
	apt_install redis-server
fi

# Browser tests (cmd/channelstream/browser_test.go): Debian's Chromium,
# driven by playwright-core, pinned by web/package-lock.json. Never
# Playwright's own browser download.
if [ ! -x /usr/bin/chromium ]; then
	echo "deps: /usr/bin/chromium is missing; installing Debian's chromium"
	apt_install chromium
fi
web="$(cd "$(dirname "$0")/.." && pwd)/web"
if [ ! -f "$web/node_modules/playwright-core/package.json" ]; then
	echo "deps: web/node_modules/playwright-core is missing; npm ci --prefix web"
	npm ci --prefix "$web" --no-audit --no-fund
fi

echo "deps: ok"
