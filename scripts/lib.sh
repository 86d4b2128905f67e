# Shared by scripts/serve, scripts/develop, scripts/test and .ci/run: the virtual environment, the quick start's
# set-up and a throwaway PostgreSQL.

# Create .venv and install a requirements file into it (requirements.txt, the service's own, by default;
# requirements-dev.txt adds the test and lint tools); reinstall only when that file, or requirements.txt, changes.
ensure_venv() {
  local requirements=${1:-requirements.txt}
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  # The test tools bring the client generator, installed without its requirements (see requirements-codegen.txt).
  local unpinned=""
  [ "$requirements" = requirements-dev.txt ] && unpinned=requirements-codegen.txt
  local stamp=.venv/.${requirements%.txt}.sha256 want pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
  want=$(cat "$requirements" requirements.txt $unpinned | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing $requirements into .venv ..." >&2
    if ! "${pip[@]}" -r "$requirements" >.venv/pip.log 2>&1 ||
      { [ -n "$unpinned" ] && ! "${pip[@]}" --no-deps -r "$unpinned" >>.venv/pip.log 2>&1; }; then
      cat .venv/pip.log >&2
      return 1
    fi
    echo "$want" >"$stamp"
  fi
}

# The directory holding pg_ctl, initdb and postgres (Debian keeps them out of PATH).
find_pg_bin() {
  if command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The browser tests drive Debian's chromium (/usr/bin/chromium) through Playwright: install it when missing.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    echo "The browser tests (tests/browser) need Chromium, which is missing: apt-get install chromium ..." >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

# The topology (scripts/cluster, tests/topology) runs Debian's pgbouncer and haproxy: install them when missing, and
# stop the services the packages start (the topology runs its own, on free ports).
ensure_topology_packages() {
  local missing=()
  [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || missing+=(pgbouncer)
  [ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "The topology tests need ${missing[*]}, which are missing: apt-get install ..." >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    as_root service pgbouncer stop >/dev/null 2>&1 || true
    as_root service haproxy stop >/dev/null 2>&1 || true
  fi
}

# Start a PostgreSQL server in a temporary directory on a free loopback port, export DATABASE_URL for it,
# and stop and remove it when the calling script exits. Installs Debian's postgresql package if needed.
start_throwaway_postgres() {
  local bin
  bin=$(find_pg_bin)
  if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "The suite runs on a throwaway PostgreSQL server, and none is installed: apt-get install postgresql ..." >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(find_pg_bin)
  fi
  PG_TMP=$(mktemp -d /tmp/devmanager-pg.XXXXXX)
  PG_RUNAS=()
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root: the server runs as the postgres user.
    chown postgres "$PG_TMP"
    PG_RUNAS=(runuser -u postgres --)
  fi
  PG_BIN=$bin
  local port
  port=$(free_port)
  "${PG_RUNAS[@]}" "$bin/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
  # Durability is pointless for a throwaway server: turning it off makes the suite much faster.
  "${PG_RUNAS[@]}" "$bin/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w start \
    -o "-p $port -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  trap stop_throwaway_postgres EXIT
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "Throwaway PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on port $port" >&2
}

stop_throwaway_postgres() {
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP/data" ]; then
    "${PG_RUNAS[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}

# Put PgBouncer, in transaction pooling mode, in front of the PostgreSQL server of DATABASE_URL: the suite then talks
# to it through the pooler (DATABASE_POOLER=pgbouncer), and to the server itself for sessions (DATABASE_DIRECT_URL).
start_test_pooler() {
  local direct=$DATABASE_URL hostport host port dir bouncer_port
  hostport=${direct#*@}; hostport=${hostport%%/*}; host=${hostport%%:*}; port=${hostport##*:}
  dir=$(mktemp -d /tmp/devmanager-pgbouncer.XXXXXX)
  bouncer_port=$(free_port)
  echo '"postgres" ""' >"$dir/users"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$host port=$port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  local runas=()
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres "$dir"
    runas=(runuser -u postgres --)
  fi
  "${runas[@]}" /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini"
  PGBOUNCER_DIR=$dir
  export DATABASE_DIRECT_URL=$direct DATABASE_POOLER=pgbouncer
  export DATABASE_URL="postgres://${direct#postgres://}"
  DATABASE_URL=${DATABASE_URL/$hostport/127.0.0.1:$bouncer_port}
  echo "PgBouncer (transaction pooling) on port $bouncer_port in front of $hostport" >&2
}

stop_test_pooler() {
  if [ -n "${PGBOUNCER_DIR:-}" ] && [ -f "$PGBOUNCER_DIR/pgbouncer.pid" ]; then
    kill "$(cat "$PGBOUNCER_DIR/pgbouncer.pid")" 2>/dev/null || true
  fi
}

# Migrate the database of DATABASE_URL and top it up to N seeded devices (benchmarks and the load test).
migrate_and_seed() {
  local count=$1 have
  .venv/bin/python manage.py migrate --noinput -v 0
  have=$(.venv/bin/python manage.py shell -c 'from devices.models import Device; print(Device.objects.count())' 2>/dev/null | tail -n 1)
  if [ "$have" -lt "$count" ]; then
    .venv/bin/python manage.py seed_devices --count $((count - have)) --seed 1
    .venv/bin/python manage.py shell -c 'from django.db import connection; connection.cursor().execute("VACUUM ANALYZE")'
  fi
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a server command beside `manage.py worker` (webhook deliveries, fleet-action jobs) until either ends or the
# script gets SIGTERM or SIGINT; then stop both (SIGTERM: the worker finishes the deliveries in hand) and wait.
# The status is 0 after a signal, else that of the one that ended first (a supervisor sees a crash as a failure).
serve_with_worker() {
  .venv/bin/python manage.py worker &
  local worker=$!
  "$@" &
  local server=$!
  stopping=0
  trap 'stopping=1; kill -TERM "$server" "$worker" 2>/dev/null || true' TERM INT
  local status=0
  wait -n "$server" "$worker" || status=$?
  kill -TERM "$server" "$worker" 2>/dev/null || true
  wait "$server" "$worker" 2>/dev/null || true
  if [ "$stopping" = 1 ]; then
    return 0
  fi
  echo "The server or the worker ended (status $status); the other was stopped." >&2
  return "$status"
}

# The quick start's set-up, shared by scripts/serve and scripts/develop: install, a secret key kept in var/, migrate,
# collect the static files, and one local API key (var/api_key, made anew only when it no longer works: revoked,
# expired, another database). Sets QUICKSTART_KEY and PORT.
prepare_quickstart() {
  ensure_venv
  mkdir -p var
  # Local use over plain HTTP; production keeps the default (HTTPS required).
  export DEVMANAGER_REQUIRE_HTTPS="${DEVMANAGER_REQUIRE_HTTPS:-false}"
  if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
    [ -s var/secret_key ] || .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key
    DJANGO_SECRET_KEY=$(cat var/secret_key)
    export DJANGO_SECRET_KEY
  fi
  PORT="${PORT:-8000}"
  .venv/bin/python manage.py migrate --noinput >/dev/null
  .venv/bin/python manage.py collectstatic --noinput >/dev/null
  QUICKSTART_KEY=$(cat var/api_key 2>/dev/null || true)
  if ! KEY="$QUICKSTART_KEY" .venv/bin/python manage.py shell -c "
import os, sys
from devmanager.api.models import ApiKey
key = ApiKey.objects.lookup(os.environ['KEY'])
sys.exit(0 if key is not None and key.is_active else 1)" >/dev/null 2>&1; then
    QUICKSTART_KEY=$(.venv/bin/python manage.py create_api_key "quickstart" 2>/dev/null | tail -n 1)
    (umask 077 && echo "$QUICKSTART_KEY" >var/api_key)
  fi
  cat <<MSG

  devmanager is starting on http://127.0.0.1:$PORT/
    API:      http://127.0.0.1:$PORT/api/devmanager/v1/devices
    Docs:     http://127.0.0.1:$PORT/api/docs/
    Admin:    http://127.0.0.1:$PORT/admin/  (create a login with: .venv/bin/python manage.py createsuperuser)
    API key:  $QUICKSTART_KEY

  Try: curl -H "Authorization: Bearer $QUICKSTART_KEY" http://127.0.0.1:$PORT/api/devmanager/v1/devices

MSG
}
