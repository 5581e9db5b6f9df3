#!/usr/bin/env bash
# Installs what dwsbox needs and is missing, then builds it. Safe to run again: it only
# does what is not done yet. Used by `npm start` and `npm test` (the README's two commands).
#   - Debian packages: postgresql-15, postgresql-15-pgextwlist and pgbackrest (with create_main_cluster = false, so no
#     packaged cluster appears on port 5432), patroni, etcd-server and haproxy for highly available clusters (their
#     packaged services kept off: the host agent runs them, design D23), build tools for better-sqlite3, util-linux.
#   - the `postgres` OS user (the tests' PostgreSQL store server and the benchmarks' raw runs use it;
#     the clusters run as per-project users the service makes, docs/security.md)
#   - npm packages (npm ci), the built code (dist/), the built web console (console/dist),
#     and with --with-browser, Debian's Chromium (and a CJK font for its screenshots) for the
#     console's browser test (`npm test` passes it; no browser is ever downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_BROWSER=0
for a in "$@"; do
  case "$a" in
    --with-browser) WITH_BROWSER=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }

need_pkgs=()
[ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/lib/postgresql/15/bin/pg_basebackup ] || need_pkgs+=(postgresql-15 postgresql-client-15)
command -v pgbackrest >/dev/null 2>&1 || need_pkgs+=(pgbackrest)
# D32: the untrusted extensions a cluster's administrator may create go through pgextwlist.
[ -f /usr/lib/postgresql/15/lib/plugins/pgextwlist.so ] || need_pkgs+=(postgresql-15-pgextwlist)
# D23/D24: highly available clusters run Patroni members, an etcd member and HAProxy routers.
command -v patroni >/dev/null 2>&1 || need_pkgs+=(patroni)
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
command -v haproxy >/dev/null 2>&1 || need_pkgs+=(haproxy)
# Issue 18: Patroni reaches the fleet's etcd over TLS, where urllib3 needs idna (only recommended by the package).
/usr/bin/python3 -c 'import idna' >/dev/null 2>&1 || need_pkgs+=(python3-idna)
command -v setpriv >/dev/null 2>&1 && command -v flock >/dev/null 2>&1 || need_pkgs+=(util-linux)
# The S3 repository test makes its CA and server certificate with openssl.
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
if [ ! -d node_modules/better-sqlite3/build ]; then
  command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || need_pkgs+=(build-essential)
  command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
fi
if [ "$WITH_BROWSER" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
  dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || need_pkgs+=(fonts-wqy-zenhei)
fi

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${need_pkgs[*]}"
    say "install them as root: sudo bash scripts/setup.sh   (or: sudo apt-get install -y ${need_pkgs[*]})"
    exit 1
  fi
  # No packaged cluster on 5432 (design D20): written before postgresql-15 is installed.
  mkdir -p /etc/postgresql-common/createcluster.d
  [ -f /etc/postgresql-common/createcluster.d/dwsbox.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/dwsbox.conf
  say "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # The packages' own services (etcd on 2379/2380, a haproxy, a patroni) must never start (D23): while
  # installing, a policy-rc.d refuses every start unless the machine already has one of its own.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt_ok=1
  if ! apt-get install -y --no-install-recommends "${need_pkgs[@]}" >/tmp/dwsbox-apt.log 2>&1; then
    apt-get update >>/tmp/dwsbox-apt.log 2>&1
    apt-get install -y --no-install-recommends "${need_pkgs[@]}" >>/tmp/dwsbox-apt.log 2>&1 || apt_ok=0
  fi
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$apt_ok" = 1 ] || { cat /tmp/dwsbox-apt.log >&2; exit 1; }
fi

# The packaged services stay off at boot too (D23): the host agent runs etcd, Patroni and the routers.
if [ "$(id -u)" = 0 ]; then
  for svc in etcd patroni haproxy; do
    [ -e "/lib/systemd/system/$svc.service" ] || continue
    if [ -e "/etc/systemd/system/multi-user.target.wants/$svc.service" ]; then
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
      else
        rm -f "/etc/systemd/system/multi-user.target.wants/$svc.service"
      fi
      say "disabled the packaged $svc service (the host agent runs it)"
    fi
  done
  for svc in etcd haproxy; do
    [ -x "/etc/init.d/$svc" ] && command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$svc" disable >/dev/null 2>&1 || true
  done
fi

if ! getent passwd postgres >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    say "creating the postgres OS user"
    useradd --system --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
  else
    say "there is no postgres OS user; run this script as root once"
  fi
fi

# npm packages: a clean install when the lockfile changed since the last one.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Build when a source is newer than the build.
if [ ! -f dist/cli/cli.js ] || [ -n "$(find src scripts package.json tsconfig.json tsconfig.build.json -newer dist/cli/cli.js -print -quit 2>/dev/null)" ]; then
  say "building"
  npm run --silent build
fi

# The web console (console/ → console/dist) when a console source is newer than its build;
# the same check and build as `npm run build:console` (type check, then Vite).
node scripts/build-console.mjs --if-stale
