//! Every `pulsegate_*` metric the alert rules (deploy/prometheus/alerts.yml) name is one
//! the code emits: a renamed metric must not leave a rule that can never fire.

use std::path::{Path, PathBuf};

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("a source directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `pulsegate_*` names in `text` (a histogram's series named by the histogram).
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("pulsegate_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name)
            .to_string();
        names.push(base);
    }
    names
}

#[test]
fn every_metric_an_alert_names_is_emitted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let mut sources = Vec::new();
    rust_sources(&root.join("crates"), &mut sources);
    let code: String = sources
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "tests"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let named = metric_names(&rules);
    assert!(
        named
            .iter()
            .any(|n| n == "pulsegate_destinations_disabled_total"),
        "{named:?}"
    );
    let missing: Vec<&String> = named
        .iter()
        .filter(|n| !code.contains(&format!("\"{n}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "alert rules name metrics nothing emits: {missing:?}"
    );
}
