# Shared by .dev/run, .dev/test and .dev/db: tools and the private PostgreSQL cluster.
# Sourced, not run. Everything here is idempotent: what is already present is skipped.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
PGDIR="$DATA/pg"
CARGO_LEPTOS_VERSION="0.3.6"
BINARYEN_VERSION="132"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  say "installing Debian packages: $*"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/pg_ctl" ] && { pg_config --bindir; return; }
  return 1
}

# Runs a PostgreSQL server binary as the cluster's owner: postgres refuses to run as root.
pg_run() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts (creating on first use) the private cluster under .data/pg and exports DATABASE_URL
# pointing at its `atrium` database. The cluster keeps running until `.dev/db stop`.
ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    say "using DATABASE_URL from the environment"
    return
  fi
  local bindir
  bindir="$(pg_bindir)" || { apt_install postgresql; bindir="$(pg_bindir)"; }
  # Debian's package starts its own cluster; we don't want it, only the binaries.
  mkdir -p "$DATA"
  if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
    say "creating a private PostgreSQL cluster in .data/pg"
    mkdir -p "$PGDIR"
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$DATA" 2>/dev/null; then
      # The postgres user cannot reach this checkout (say, under /root): keep the cluster
      # where it can, and link it into .data/pg.
      local alt="/var/tmp/atrium-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
      rmdir "$PGDIR" 2>/dev/null || true
      mkdir -p "$alt"
      ln -sfn "$alt" "$PGDIR"
    fi
    PGDIR="$(readlink -f "$PGDIR")"
    mkdir -p "$PGDIR/data" "$PGDIR/run"
    head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$PGDIR/password"
    free_port > "$PGDIR/port"
    if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$PGDIR/"; fi
    chmod 700 "$PGDIR/data"
    pg_run "$bindir/initdb" -D "$PGDIR/data" -U atrium --auth=scram-sha-256 \
      --pwfile="$PGDIR/password" -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$PGDIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $(cat "$PGDIR/port")
unix_socket_directories = '$PGDIR/run'
max_connections = 300
shared_buffers = 256MB
fsync = on
log_min_messages = warning
CONF
  fi
  PGDIR="$(readlink -f "$PGDIR")"
  local port; port="$(cat "$PGDIR/port")"
  # The tests count each page's SQL statements with pg_stat_statements; a cluster made before
  # that gets the library now (it loads at start, so a running cluster restarts once).
  if ! grep -q "^shared_preload_libraries = 'pg_stat_statements'" "$PGDIR/data/postgresql.conf"; then
    echo "shared_preload_libraries = 'pg_stat_statements'" | pg_run tee -a "$PGDIR/data/postgresql.conf" >/dev/null
    if pg_run "$bindir/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
      say "restarting PostgreSQL to load pg_stat_statements"
      pg_run "$bindir/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null
    fi
  fi
  if ! pg_run "$bindir/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
    say "starting PostgreSQL on 127.0.0.1:$port"
    pg_run "$bindir/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$PGDIR/server.log" >&2; die "PostgreSQL did not start"; }
  fi
  local pw; pw="$(cat "$PGDIR/password")"
  export PGPASSWORD="$pw"
  if ! "$bindir/psql" -h 127.0.0.1 -p "$port" -U atrium -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'atrium'" | grep -q 1; then
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U atrium atrium
  fi
  unset PGPASSWORD
  export DATABASE_URL="postgres://atrium:$pw@127.0.0.1:$port/atrium"
}

stop_postgres() {
  local bindir; bindir="$(pg_bindir)" || die "PostgreSQL binaries not found"
  [ -e "$PGDIR" ] && PGDIR="$(readlink -f "$PGDIR")"
  if [ -f "$PGDIR/data/PG_VERSION" ] && pg_run "$bindir/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
    pg_run "$bindir/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null
    say "PostgreSQL stopped"
  else
    say "PostgreSQL is not running"
  fi
}

# Rust toolchain pieces and cargo-leptos with the exact tools it drives.
ensure_build_tools() {
  export PATH="$HOME/.cargo/bin:$ROOT/.data/tools/node_modules/.bin:$PATH"
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
  if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
    say "adding the wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 20 minutes, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
  fi
  local wbg
  wbg="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$ROOT/Cargo.lock")"
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$wbg"; then
    say "installing wasm-bindgen-cli $wbg (about 4 minutes, once)"
    # Without --locked: the CLI's own lock file does not resolve from this registry mirror.
    cargo install wasm-bindgen-cli --version "$wbg"
  fi
  # Debian's binaryen (108) silently breaks the module; npm's binaryen works.
  if [ ! -x "$DATA/tools/node_modules/.bin/wasm-opt" ]; then
    say "installing wasm-opt (binaryen@$BINARYEN_VERSION from npm)"
    mkdir -p "$DATA/tools"
    (cd "$DATA/tools" && npm install --silent --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null)
  fi
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
}

build_site() {
  ensure_build_tools
  say "building Atrium (cargo leptos build --release)"
  (cd "$ROOT" && cargo leptos build --release)
  # ServeDir sends these to browsers that accept gzip.
  gzip -9 -k -f "$ROOT"/target/site/pkg/*.wasm "$ROOT"/target/site/pkg/*.js "$ROOT"/target/site/pkg/*.css
}

# The binary defaults to production; these scripts run it for development (a generated secret
# key, loopback webhook receivers, the demo seed). Set ATRIUM_ENV=production to try otherwise.
export ATRIUM_ENV="${ATRIUM_ENV:-development}"
