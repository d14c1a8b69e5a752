#!/usr/bin/env bash
# Bounded fuzz run (test.sh and CI): builds every cargo-fuzz target, then runs each for
# SECONDS (default 3) from its committed seeds plus the local corpus. A crash fails the
# run and leaves the input in fuzz/artifacts/<target>/ (see docs/FUZZING.md).
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-3}
shift || true
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=sancov-module);
# the stable toolchain accepts them with RUSTC_BOOTSTRAP=1 (no nightly on these machines).
export RUSTC_BOOTSTRAP=1
# --dev: an unoptimised build with debug assertions, far quicker to build than the
# default release build; a few seconds per target find what they find either way.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cargo fuzz build --dev >"$log" 2>&1; then
  tail -60 "$log"
  echo "fuzz build failed"
  exit 1
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  if cargo fuzz run --dev "$t" "${dirs[@]}" -- -max_total_time="$secs" -max_len=65536 >"$log" 2>&1; then
    echo "fuzz $t: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || echo done)"
  else
    tail -60 "$log"
    echo "fuzz $t: FAILED (input saved under fuzz/artifacts/$t/)"
    exit 1
  fi
done
