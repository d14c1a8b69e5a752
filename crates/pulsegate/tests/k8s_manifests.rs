//! The Kubernetes manifests (deploy/kubernetes) render and validate offline:
//! `deploy/kubernetes/validate.py` renders each overlay (kubectl kustomize where kubectl
//! is installed, checked against its own renderer), validates every document against
//! the Kubernetes schemas bundled in the PyPI package kubernetes-validate (and KEDA's
//! ScaledObject against its own schema), checks the project's rules (no inlined
//! Secret, non-root, read-only root, probes on the admin listener, admin port never on
//! a public Service...), runs `pulsegate check-config` on each overlay's TOML and has
//! promtool parse and unit-test the KEDA queries. test.sh installs kubernetes-validate
//! and promtool; without them these tests fail, they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kubernetes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

fn validate(dir: &Path) -> Output {
    Command::new("python3")
        .arg(dir.join("validate.py"))
        .arg("--pulsegate")
        .arg(env!("CARGO_BIN_EXE_pulsegate"))
        .arg("--require-promtool")
        .output()
        .expect("python3 runs (test.sh installs kubernetes-validate and promtool)")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn overlays_render_and_validate() {
    let out = validate(&kubernetes_dir());
    let text = text(&out);
    assert!(
        out.status.success(),
        "deploy/kubernetes/validate.py:\n{text}"
    );
    for expected in [
        "overlay embedded:",
        "overlay kafka:",
        "base/secret.example.yaml: schema-checked",
        "KEDA queries: promtool checked 2 ScaledObjects",
        "all manifests valid",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from)
        .expect("read deploy/kubernetes")
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy a manifest");
        }
    }
}

/// Each mistake, made in a copy of deploy/kubernetes, makes the validator fail with a
/// message naming it: the check is not vacuous.
#[test]
fn broken_manifests_fail() {
    // (file, text replaced, replacement, expected in the validator's output)
    let mistakes: &[(&str, &str, &str, &str)] = &[
        // A misspelt field: strict Kubernetes schema.
        (
            "overlays/kafka/ingest.yaml",
            "          readinessProbe:",
            "          readinesProbe:",
            "invalid for Kubernetes 1.28.0 at spec.template.spec.containers.0: Additional properties",
        ),
        // A wrong type: the replica count as a string.
        (
            "overlays/embedded/statefulset.yaml",
            "  replicas: 1\n",
            "  replicas: \"1\"\n",
            "invalid for Kubernetes 1.37.0 at spec.replicas",
        ),
        // The admin listener on the public Service.
        (
            "overlays/kafka/service.yaml",
            "    - name: http\n      port: 8080\n      targetPort: http\n",
            "    - name: http\n      port: 8080\n      targetPort: http\n    - name: admin\n      port: 9091\n      targetPort: admin\n",
            "Service pulsegate: serves the admin port",
        ),
        // A secret inlined instead of read from a Secret.
        (
            "overlays/embedded/statefulset.yaml",
            "              valueFrom:\n                secretKeyRef:\n                  name: pulsegate-admin-token\n                  key: token\n",
            "              value: an-inlined-admin-token-0123456789abcdef\n",
            "PULSEGATE_ADMIN__TOKEN has an inline value",
        ),
        // Probes on the public listener.
        (
            "overlays/kafka/dispatch.yaml",
            "              path: /readyz\n              port: admin",
            "              path: /readyz\n              port: http",
            "readinessProbe must GET /readyz on the admin listener",
        ),
        // KEDA wants strings in trigger metadata.
        (
            "overlays/kafka/keda.yaml",
            "threshold: \"1000\"",
            "threshold: 1000",
            "(KEDA schema) at spec.triggers.0.metadata.threshold",
        ),
        // A key pulsegate does not know in the ConfigMap's TOML.
        (
            "overlays/kafka/pulsegate.toml",
            "[normalizer]\nconcurrency = 64",
            "[normalizer]\nconcurency = 64",
            "pulsegate check-config refused",
        ),
        // A dispatch query that no longer leaves out destinations with a closed breaker.
        (
            "overlays/kafka/keda.yaml",
            "pulsegate_destination_breaker_open{namespace=\"pulsegate\"}) > 0,",
            "pulsegate_destination_breaker_open{namespace=\"pulsegate\"}) >= 0,",
            "promtool test rules",
        ),
        // The encryption key inside the data dir.
        (
            "overlays/embedded/statefulset.yaml",
            "value: /etc/pulsegate/keys/pulsegate.key",
            "value: /var/lib/pulsegate/pulsegate.key",
            "the key file's directory /var/lib/pulsegate is not a Secret volume",
        ),
    ];
    for (file, from, to, expected) in mistakes {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&kubernetes_dir(), dir.path());
        let path = dir.path().join(file);
        let original = std::fs::read_to_string(&path).unwrap();
        assert!(
            original.contains(from),
            "{file} no longer contains {from:?}"
        );
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let out = validate(dir.path());
        let text = text(&out);
        assert!(
            !out.status.success(),
            "{file}: {to:?} passed validation:\n{text}"
        );
        assert!(
            text.contains(expected),
            "{file}: {to:?}: expected {expected:?} in:\n{text}"
        );
    }
}
