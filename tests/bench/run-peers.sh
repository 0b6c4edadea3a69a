#!/usr/bin/env bash
# Compares Runnel with the open Kinesis-compatible servers on this machine and writes docs/benchmarks.md.
#
#   tests/bench/run-peers.sh [options] [-- extra Runnel.LoadBench options]
#
#   --rounds N        interleaved rounds; every target runs once per round, in rotated order (5)
#   --targets LIST    comma list of: runnel (Standalone, HTTP/1.1), runnel-h2 (Standalone, HTTP/2 h2c),
#                     runnel-relaxed (Standalone acknowledging before the fsync: what durability costs),
#                     runnel-cluster (Ingest + 2 ShardStore processes over PostgreSQL), kinesalite, kinesis-local
#                     (default: runnel,kinesalite,kinesis-local,runnel-cluster,runnel-h2)
#   --duration S      measured seconds per put scenario (10); --warmup S (10: the runtime re-compiles hot
#                     methods in the first seconds, so shorter warm-ups measure the JIT); --latency-duration S (10)
#   --work DIR        where data, logs and results go (default: a new folder under /tmp)
#   --report FILE     markdown to update between its results markers (docs/benchmarks.md); "none" skips it
#   --preliminary T   mark the report's figures as preliminary, for reason T
#   --no-build        use the existing Release builds
#   --runnel-arg A    extra --Key=value for Runnel's processes (repeatable), e.g. --runnel-arg --ShardStore:CommitPolicy=Relaxed;
#                     throttling is off by default (--Throttling:Enabled=false), as the peers have none
#
# Every server listens on 127.0.0.1 on a free port in 15400-15999 (kinesis-local binds all interfaces; only
# loopback is used) and is stopped after its run; Runnel's data folders are fresh for every run. Needs node/npm
# and the .NET SDK; runnel-cluster also needs PostgreSQL (initdb/pg_ctl) and, as root, the postgres user.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BENCH_DIR="$ROOT/tests/bench"
COMMAND="tests/bench/run-peers.sh"
if (($#)); then COMMAND+=$(printf ' %q' "$@"); fi

ROUNDS=5
TARGETS="runnel,kinesalite,kinesis-local,runnel-cluster,runnel-h2"
DURATION=10
WARMUP=10
LATENCY_DURATION=10
WORK=""
REPORT="$ROOT/docs/benchmarks.md"
PRELIMINARY=""
BUILD=1
# The peers do not throttle; Runnel's AWS-like per-shard limits (1,000 records/s in, 5 reads/s) would cap every
# figure at those limits, so they are off unless asked for (a later --runnel-arg --Throttling:Enabled=true wins).
RUNNEL_ARGS=(--Throttling:Enabled=false)
BENCH_ARGS=()

while (($#)); do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --latency-duration) LATENCY_DURATION=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --report) REPORT=$2; shift 2 ;;
    --preliminary) PRELIMINARY=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --runnel-arg) RUNNEL_ARGS+=("$2"); shift 2 ;;
    --) shift; BENCH_ARGS=("$@"); break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# A target that fails to start costs its run, not the whole comparison.
fail() { log "ERROR: $*"; return 1; }

WORK=${WORK:-$(mktemp -d /tmp/runnel-bench.XXXXXX)}
mkdir -p "$WORK/logs" "$WORK/results"
chmod 755 "$WORK"
log "work folder: $WORK"

# ---------------------------------------------------------------- processes we started (stopped on exit)

STARTED=()
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_started() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  STARTED=()
}
PG_DATA=""
PG_RUN=()
cleanup() {
  stop_started
  if [[ -n "$PG_DATA" ]]; then
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- ports

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
TAKEN=" "
free_port() {
  local span=600 start p i
  start=$((RANDOM % span))
  for ((i = 0; i < span; i++)); do
    p=$((15400 + (start + i) % span))
    [[ "$TAKEN" == *" $p "* ]] && continue
    if ! port_in_use "$p"; then TAKEN+="$p "; echo "$p"; return 0; fi
  done
  die "no free port in 15400-15999"
}

# Waits until a Kinesis endpoint answers ListStreams with 200.
wait_kinesis() { # name port seconds pid
  local name=$1 port=$2 limit=$3 pid=$4 i
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { fail "$name exited during start-up (log: $WORK/logs)"; return 1; }
    if curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://127.0.0.1:$port/" \
      -H 'Content-Type: application/x-amz-json-1.1' -H 'X-Amz-Target: Kinesis_20131202.ListStreams' \
      -H 'X-Amz-Date: 20260101T000000Z' \
      -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK00000000/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0' \
      -d '{}' 2>/dev/null | grep -q '^200$'; then
      return 0
    fi
    sleep 0.1
  done
  fail "$name did not answer on 127.0.0.1:$port within ${limit}s (log: $WORK/logs)"
}

# ---------------------------------------------------------------- installs and builds

install_peers() {
  command -v node >/dev/null || die "node is missing (apt-get install nodejs npm)"
  if [[ ! -d "$BENCH_DIR/node_modules/kinesalite" || ! -d "$BENCH_DIR/node_modules/kinesis-local" ]]; then
    log "installing kinesalite and kinesis-local from npm"
    # leveldown is optional (kinesalite keeps data in memory without --path) and would compile native code.
    (cd "$BENCH_DIR" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund >"$WORK/logs/npm.log" 2>&1) ||
      { cat "$WORK/logs/npm.log" >&2; die "npm ci failed"; }
  fi
}

dll() { echo "$ROOT/$1/bin/Release/net10.0/$2.dll"; }
LOADBENCH=$(dll tests/Runnel.LoadBench Runnel.LoadBench)
STANDALONE=$(dll services/Standalone/Runnel.Standalone Runnel.Standalone)
INGEST=$(dll services/Ingest/Runnel.Ingest Runnel.Ingest)
SHARDSTORE=$(dll services/ShardStore/Runnel.ShardStore Runnel.ShardStore)
MIGRATOR=$(dll services/Shared/Runnel.Metadata.Migrator Runnel.Metadata.Migrator)

wants() { [[ ",$TARGETS," == *",$1,"* ]]; }

build() {
  local projects=(tests/Runnel.LoadBench/Runnel.LoadBench.csproj)
  if wants runnel || wants runnel-h2 || wants runnel-relaxed; then projects+=(services/Standalone/Runnel.Standalone/Runnel.Standalone.csproj); fi
  if wants runnel-cluster; then
    projects+=(services/Ingest/Runnel.Ingest/Runnel.Ingest.csproj services/ShardStore/Runnel.ShardStore/Runnel.ShardStore.csproj
      services/Shared/Runnel.Metadata.Migrator/Runnel.Metadata.Migrator.csproj)
  fi
  local p
  for p in "${projects[@]}"; do
    log "building $p (Release)"
    dotnet build "$ROOT/$p" -c Release -nologo -v q >"$WORK/logs/build-$(basename "$p" .csproj).log" 2>&1 ||
      { tail -30 "$WORK/logs/build-$(basename "$p" .csproj).log" >&2; die "build of $p failed"; }
  done
}

# ---------------------------------------------------------------- targets: each start_* sets PORT and PIDS

# The children must not export telemetry to a developer's collector or look for a Dapr sidecar.
child_env=(env -u OTEL_EXPORTER_OTLP_ENDPOINT Dapr__Enabled=false)
# The cluster's three processes share the machine's cores, as on one small node: Workstation GC, as operations.md
# advises for that case (Server GC's per-core heaps and GC threads in three processes on 2 cores cost about a
# quarter of the cluster's PutRecords rate). Standalone uses Workstation GC by default.
cluster_env=("${child_env[@]}" DOTNET_gcServer=0)

start_standalone() { # name round [extra --Key=value ...]
  local name=$1 round=$2 data="$WORK/data/$1-r$2"
  shift 2
  rm -rf "$data"; mkdir -p "$data"
  PORT=$(free_port)
  "${child_env[@]}" dotnet "$STANDALONE" --urls "http://127.0.0.1:$PORT" "--Runnel:DataDirectory=$data" "${RUNNEL_ARGS[@]}" "$@" \
    >"$WORK/logs/$name-r$round.log" 2>&1 &
  PIDS=$!
  STARTED+=("$PIDS")
  wait_kinesis "$name" "$PORT" 60 "$PIDS" || return 1
}

start_kinesalite() { # name round
  PORT=$(free_port)
  node "$BENCH_DIR/kinesalite-server.js" "$PORT" 127.0.0.1 >"$WORK/logs/$1-r$2.log" 2>&1 &
  PIDS=$!
  STARTED+=("$PIDS")
  wait_kinesis "$1" "$PORT" 30 "$PIDS" || return 1
}

start_kinesis_local() { # name round
  local dir="$BENCH_DIR/node_modules/kinesis-local" tls d
  PORT=$(free_port)
  tls=$(free_port)
  local durations=()
  for d in CREATE_STREAM DELETE_STREAM REGISTER_STREAM_CONSUMER DEREGISTER_STREAM_CONSUMER START_STREAM_ENCRYPTION \
    STOP_STREAM_ENCRYPTION MERGE_SHARDS SPLIT_SHARD UPDATE_SHARD_COUNT UPDATE_STREAM_MODE; do
    durations+=("${d}_DURATION=0ms")
  done
  env KINESIS_MOCK_PLAIN_PORT="$PORT" KINESIS_MOCK_TLS_PORT="$tls" KINESIS_MOCK_CERT_PATH="$dir/server.json" \
    SHARD_LIMIT=1000 LOG_LEVEL=WARN "${durations[@]}" \
    node "$dir/main.js" >"$WORK/logs/$1-r$2.log" 2>&1 &
  PIDS=$!
  STARTED+=("$PIDS")
  wait_kinesis "$1" "$PORT" 60 "$PIDS" || return 1
}

PG_BIN=""
PG_PORT=""
PSQL=psql
ensure_postgres() {
  [[ -n "$PG_DATA" ]] && return 0
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$d/initdb" ]] && { PG_BIN=$d; break; }
  done
  [[ -n "$PG_BIN" ]] || { fail "runnel-cluster needs PostgreSQL (apt-get install postgresql)"; return 1; }
  PSQL="$PG_BIN/psql"
  [[ -x "$PSQL" ]] || PSQL=psql
  mkdir -p "$WORK/postgres"
  if [[ $(id -u) -eq 0 ]]; then
    PG_RUN=(runuser -u postgres --)
    chown postgres:postgres "$WORK/postgres"
  fi
  chmod 700 "$WORK/postgres"
  PG_PORT=$(free_port)
  "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$WORK/postgres/data" -U postgres -A trust --no-sync >"$WORK/logs/initdb.log" 2>&1 ||
    { cat "$WORK/logs/initdb.log" >&2; fail "initdb failed"; return 1; }
  PG_DATA="$WORK/postgres/data"
  # Metadata only (streams, placements, heartbeats): the record path never touches it.
  "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/postgres/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK/postgres -c fsync=off -c max_connections=200" start >/dev/null ||
    { cat "$WORK/postgres/server.log" >&2; fail "PostgreSQL failed to start"; return 1; }
  log "postgres on $PG_PORT"
}

start_cluster() { # name round
  local name=$1 round=$2 db="bench_r$2_$RANDOM" i
  ensure_postgres || return 1
  "$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $db" >/dev/null || { fail "CREATE DATABASE failed"; return 1; }
  local cs="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=$db"
  local metadata=("--ConnectionStrings:Metadata=$cs" "--Metadata:Provider=Postgres")
  "${child_env[@]}" dotnet "$MIGRATOR" "${metadata[@]}" >"$WORK/logs/$name-r$round-migrate.log" 2>&1 ||
    { cat "$WORK/logs/$name-r$round-migrate.log" >&2; fail "metadata migration failed"; return 1; }
  PIDS=""
  local node_ports=()
  for i in 1 2; do
    local port data="$WORK/data/$name-r$round/node-$i"
    port=$(free_port)
    node_ports+=("$port")
    mkdir -p "$data"
    "${cluster_env[@]}" dotnet "$SHARDSTORE" --urls "http://127.0.0.1:$port" "--ShardStore:NodeId=node-$i" \
      "--ShardStore:DataDirectory=$data" "--ShardStore:AdvertisedAddress=http://127.0.0.1:$port" "${metadata[@]}" "${RUNNEL_ARGS[@]}" \
      >"$WORK/logs/$name-r$round-node-$i.log" 2>&1 &
    STARTED+=("$!")
    PIDS+="${PIDS:+,}$!"
  done
  # Placement spreads shards over registered nodes only: wait until both registered.
  for ((i = 0; i < 600; i++)); do
    local n
    n=$("$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" -tAc 'SELECT count(*) FROM store_nodes' 2>/dev/null || echo 0)
    [[ "$n" -ge 2 ]] && break
    ((i == 599)) && { fail "the ShardStore nodes did not register within 60 s (logs: $WORK/logs)"; return 1; }
    sleep 0.1
  done
  PORT=$(free_port)
  # The load generator does not sign: the benchmark measures the data path, as Standalone on loopback serves it.
  "${cluster_env[@]}" dotnet "$INGEST" --urls "http://127.0.0.1:$PORT" --Security:Authentication=None \
    "--Runnel:IteratorSigningKey=$(head -c 32 /dev/urandom | base64 -w0)" "${metadata[@]}" "${RUNNEL_ARGS[@]}" \
    >"$WORK/logs/$name-r$round-ingest.log" 2>&1 &
  STARTED+=("$!")
  PIDS="$!,$PIDS"
  wait_kinesis "$name" "$PORT" 60 "$!" || return 1
}

start_target() { # name round
  case "$1" in
    runnel|runnel-h2) start_standalone "$1" "$2" ;;
    runnel-relaxed) start_standalone "$1" "$2" --ShardStore:CommitPolicy=Relaxed ;;
    runnel-cluster) start_cluster "$1" "$2" ;;
    kinesalite) start_kinesalite "$1" "$2" ;;
    kinesis-local) start_kinesis_local "$1" "$2" ;;
    *) fail "unknown target $1" ;;
  esac
}

http_of() { [[ "$1" == *-h2 ]] && echo 2 || echo 1.1; }

run_one() { # target round; runs in this shell so that the servers it starts are tracked and stopped
  local target=$1 round=$2
  start_target "$target" "$round" || return 1
  dotnet "$LOADBENCH" --endpoint "http://127.0.0.1:$PORT" --target "$target" --http "$(http_of "$target")" \
    --round "$round" --pids "$PIDS" --duration "$DURATION" --warmup "$WARMUP" --latency-duration "$LATENCY_DURATION" \
    --json "$WORK/results/round-$round/$target.json" "${BENCH_ARGS[@]}" 2>&1 | tee "$WORK/logs/bench-$target-r$round.log"
  return "${PIPESTATUS[0]}"
}

# ---------------------------------------------------------------- run

install_peers
((BUILD)) && build
[[ -f "$LOADBENCH" ]] || die "$LOADBENCH is missing (drop --no-build)"

IFS=',' read -r -a TARGET_LIST <<<"$TARGETS"
FAILED=()
for ((round = 1; round <= ROUNDS; round++)); do
  # Rotate the order every round, so no target always runs first (cold machine) or last.
  count=${#TARGET_LIST[@]}
  for ((k = 0; k < count; k++)); do
    target=${TARGET_LIST[$(((k + round - 1) % count))]}
    log "round $round/$ROUNDS: $target"
    mkdir -p "$WORK/results/round-$round"
    if ! run_one "$target" "$round"; then
      FAILED+=("$target/round-$round")
      log "FAILED: $target in round $round (logs: $WORK/logs)"
    fi
    stop_started
    rm -rf "$WORK/data"
  done
done

if [[ "$REPORT" != "none" ]]; then
  report_args=(report --results "$WORK/results" --out "$REPORT" --baseline runnel --cluster runnel-cluster --command "$COMMAND")
  [[ -n "$PRELIMINARY" ]] && report_args+=(--preliminary "$PRELIMINARY")
  dotnet "$LOADBENCH" "${report_args[@]}"
fi
log "results: $WORK/results"
if ((${#FAILED[@]})); then
  log "failed runs: ${FAILED[*]}"
  exit 1
fi
