#!/usr/bin/env bash
# Runs every test. Installs or starts what the tests need when it is missing:
#   - PostgreSQL's server binaries (Debian package postgresql) — a private, throw-away cluster is started for
#     the run and removed afterwards;
#   - Twilio's official Python helper library (PyPI twilio), in a virtualenv under target/, which produces
#     webhook signatures that no code of ours computed;
#   - schemathesis (PyPI), in the same virtualenv, which fuzzes the API against its served OpenAPI document;
#   - moto's S3 server (PyPI moto[server]), in the same virtualenv: a real S3-compatible server for the file store
#     and the tests of several nodes sharing one bucket;
#   - prometheus-client (PyPI), in the same virtualenv, whose parser reads /metrics as Prometheus would;
#   - Prism (npm @stoplight/prism-cli), under target/, which serves Twilio's own OpenAPI descriptions so that the
#     contract tests check every request Switchboard sends to Twilio;
#   - Chromium (Debian package chromium) and playwright-core (npm), under target/, which drive the agent inbox
#     in a real browser (screenshots land in target/browser-artifacts/), and axe-core (npm), which checks each
#     screen's accessibility there.
# Usage: tests/run.sh [extra arguments for cargo nextest run / cargo test]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[tests/run.sh] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- PostgreSQL binaries -------------------------------------------------------------------------------------
find_pg_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r | while read -r d; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; break; fi
  done
}
pg_bin=$(find_pg_bin)
if [ -z "$pg_bin" ]; then
  log "PostgreSQL not found; installing it (apt-get install postgresql)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(find_pg_bin)
fi
[ -n "$pg_bin" ] || { log "could not find or install PostgreSQL"; exit 1; }

# --- Twilio's official helper library ------------------------------------------------------------------------
venv="$root/target/test-venv"
if ! "$venv/bin/python" -c 'import twilio.request_validator' >/dev/null 2>&1; then
  log "installing Twilio's Python helper library into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'twilio==9.13.0'
fi
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version 4.32.5" ]; then
  log "installing schemathesis into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
if ! "$venv/bin/python" -c 'import moto, flask' >/dev/null 2>&1 || [ "$("$venv/bin/python" -c 'import moto; print(moto.__version__)')" != "5.2.5" ]; then
  log "installing moto's S3 server into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
if ! "$venv/bin/python" -c 'from prometheus_client.parser import text_string_to_metric_families' >/dev/null 2>&1; then
  log "installing Prometheus's Python client (its text-format parser) into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'prometheus-client==0.23.1'
fi
export SWITCHBOARD_TEST_PYTHON="$venv/bin/python"
export SWITCHBOARD_TEST_SCHEMATHESIS="$venv/bin/schemathesis"
export SWITCHBOARD_TEST_MOTO="$venv/bin/moto_server"

# --- Prism (npm @stoplight/prism-cli), which serves Twilio's OpenAPI descriptions for the contract tests ---------
prism_dir="$root/target/test-prism"
if [ ! -x "$prism_dir/node_modules/.bin/prism" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    log "npm not found; installing Node.js (apt-get install nodejs npm)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
  fi
  log "installing Prism into $prism_dir"
  mkdir -p "$prism_dir"
  (cd "$prism_dir" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund @stoplight/prism-cli@5.14.2 >/dev/null)
fi
export SWITCHBOARD_TEST_PRISM="$prism_dir/node_modules/.bin/prism"

# --- Headless Chromium (Debian chromium) and Playwright (npm playwright-core), for the inbox's browser tests ----
if [ ! -x /usr/bin/chromium ]; then
  log "Chromium not found; installing it (apt-get install chromium)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi
# A Japanese font, so that the screenshots of the inbox in Japanese show its words rather than empty boxes.
if ! fc-list :lang=ja 2>/dev/null | grep -q .; then
  log "no Japanese font; installing one (apt-get install fonts-ipafont-gothic)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq fonts-ipafont-gothic >/dev/null
fi
browser_dir="$root/target/test-browser"
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] || [ ! -f "$browser_dir/node_modules/axe-core/axe.min.js" ]; then
  log "installing playwright-core and axe-core into $browser_dir"
  mkdir -p "$browser_dir"
  (cd "$browser_dir" && { [ -f package.json ] || npm init -y >/dev/null; } \
    && npm install --silent --no-audit --no-fund playwright-core@1.64.1 axe-core@4.14.1 >/dev/null)
fi
export SWITCHBOARD_TEST_BROWSER_MODULES="$browser_dir/node_modules"
export SWITCHBOARD_TEST_CHROMIUM=/usr/bin/chromium

# --- A private PostgreSQL cluster for this run ---------------------------------------------------------------
run_as=()
pg_user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then run_as=(runuser -u postgres --); pg_user=postgres; fi
pgdata=$(mktemp -d /tmp/switchboard-test-pg.XXXXXX)
chmod 755 "$pgdata"
[ "$(id -u)" -eq 0 ] && chown postgres "$pgdata"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
cleanup() {
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$pgdata/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$pgdata"
}
trap cleanup EXIT
"${run_as[@]}" "$pg_bin/initdb" -D "$pgdata/data" -U postgres --auth=trust --no-locale -E UTF8 --no-instructions >/dev/null
# Test clusters trade durability for speed: nothing here needs to survive a crash of the machine.
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$pgdata/data" -l "$pgdata/server.log" -w -o \
  "-c listen_addresses=127.0.0.1 -p $port -k $pgdata -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
  start >/dev/null
export SWITCHBOARD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
log "PostgreSQL ($pg_bin) for the tests on 127.0.0.1:$port"

# --- The tests -----------------------------------------------------------------------------------------------
status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi
if [ "$status" -ne 0 ]; then
  # What the machine and the test PostgreSQL looked like at the end, for a failure seen only elsewhere (a CI run).
  log "tests failed (exit $status); the test PostgreSQL is $("${run_as[@]}" "$pg_bin/pg_ctl" -D "$pgdata/data" status >/dev/null 2>&1 && echo running || echo NOT running)"
  df -h "$pgdata" "$root/target" /dev/shm 2>/dev/null | sed 's/^/[tests\/run.sh] /' >&2 || true
  free -m 2>/dev/null | sed 's/^/[tests\/run.sh] /' >&2 || true
  log "the last lines of the test PostgreSQL's log other than routine ones:"
  grep -v -e 'could not receive data from client' -e 'duplicate key value' -e '^\s' -e 'STATEMENT:' -e 'DETAIL:' \
    "$pgdata/server.log" 2>/dev/null | tail -n 60 | sed 's/^/[postgres] /' >&2 || true
fi
exit "$status"
