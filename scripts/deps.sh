#!/usr/bin/env bash
# Installs what the build and the tests need, only what is missing: Debian packages with
# apt-get (one `apt-get update` first, and only when something is missing) and the npm
# packages of package-lock.json (socket.io-client is served to browsers; socket.io,
# playwright-core are test peers). Usage: scripts/deps.sh [--tests]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libuv1-dev libwslay-dev libcjson-dev libsqlite3-dev
      libncurses-dev libssl-dev libhiredis-dev ca-certificates node-llhttp nodejs npm curl)
if [ "${1:-}" = "--tests" ]; then
  # clang + its runtime: the libFuzzer targets of tests/fuzz (built and run by scripts/test.sh)
  # nginx + openssl: the TLS reverse-proxy test (deploy/nginx/kds.conf); openssl also makes the
  # certificates of tests/tui/tls.test.js; dpkg-dev: cpack -G DEB;
  # strace, systemd (systemd-analyze, not run as init): the unit checked and its SystemCallFilter;
  # redis-server: tests/integration/redis.test.js, a throwaway Redis on loopback
  pkgs+=(tmux chromium fonts-dejavu-core sqlite3 procps python3 clang libclang-rt-14-dev clang-format
         nginx openssl dpkg-dev file strace systemd redis-server)
fi

missing=()
for p in "${pkgs[@]}"; do
  # npm/nodejs may come from outside Debian on this image: a working command counts.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, exactly as locked; skipped when node_modules already matches the lockfile.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json .deps-npm.stamp 2>/dev/null; then
  echo "deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json .deps-npm.stamp
fi
