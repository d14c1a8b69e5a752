//! The documents that list providers by hand agree with the registry
//! (`pulsegate_providers::descriptors()`): the README's providers table and the example
//! configuration's provider sections. They stay hand-written (people read them, with
//! prose per provider); these tests fail, naming what to change, when a provider is
//! added, renamed or its facts change without them. (The admin OpenAPI document's
//! provider enums are filled from the registry when served: `crates/admin/src/ui.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use pulsegate_provider::{Descriptor, EventType, Provider, PushMode};
use pulsegate_providers::descriptors;

fn repo_file(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The registry's providers by slug (`strava`).
fn slugs() -> Vec<String> {
    descriptors().map(|d| d.id.slug().to_string()).collect()
}

/// The rows of the README's providers table: (provider cell, whole row, last cell).
fn readme_rows() -> Vec<(String, String, String)> {
    let readme = repo_file("README.md");
    let section = readme
        .split("\n## Providers\n")
        .nth(1)
        .expect("README.md has a ## Providers section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let table: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| provider |"))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .collect();
    assert!(!table.is_empty(), "README.md: no providers table");
    table
        .into_iter()
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            let first = cells.first().copied().unwrap_or_default().to_string();
            let last = cells.last().copied().unwrap_or_default().to_string();
            (first, row.to_string(), last)
        })
        .collect()
}

/// The descriptor a README name stands for: its display name is the name or the start
/// of it ("Huawei Health Kit", "Oura v2").
fn named(name: &str) -> Option<&'static Descriptor> {
    descriptors()
        .filter(|d| name == d.display_name || name.starts_with(&format!("{} ", d.display_name)))
        .max_by_key(|d| d.display_name.len())
}

/// Terra data types in a "types mapped" cell (parenthesised remarks left out).
fn data_types_in(cell: &str) -> BTreeSet<&'static str> {
    let mut plain = String::new();
    let mut depth = 0;
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    const TERRA: [EventType; 7] = [
        EventType::Activity,
        EventType::Body,
        EventType::Daily,
        EventType::Sleep,
        EventType::Athlete,
        EventType::Nutrition,
        EventType::Menstruation,
    ];
    plain
        .split(',')
        .map(str::trim)
        .filter_map(|t| TERRA.iter().find(|d| d.as_str() == t).map(|d| d.as_str()))
        .collect()
}

#[test]
fn readme_providers_table_is_the_registry() {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (first, row, types) in readme_rows() {
        for name in first.split(", ") {
            let d = named(name).unwrap_or_else(|| {
                panic!(
                    "README.md providers table: {name:?} is no registered provider's display \
                     name (pulsegate_providers::descriptors())"
                )
            });
            *seen.entry(d.id.slug()).or_default() += 1;
            let want: BTreeSet<&str> = d.data_types.iter().map(|t| t.as_str()).collect();
            assert_eq!(
                data_types_in(&types),
                want,
                "README.md providers table, {name}: the Terra types mapped must be the \
                 descriptor's data_types"
            );
            assert_eq!(
                row.contains("secret path token"),
                d.push == PushMode::PathToken,
                "README.md providers table, {name}: says \"secret path token\" exactly when its \
                 push mode is PathToken"
            );
        }
    }
    for d in descriptors() {
        assert_eq!(
            seen.get(d.id.slug()).copied(),
            Some(1),
            "README.md providers table: {} must be in exactly one row",
            d.display_name
        );
    }
}

/// `pulsegate.example.toml`: per `[table]`, its keys (comments and commented-out tables
/// left out).
fn example_sections() -> BTreeMap<String, BTreeSet<String>> {
    let text = repo_file("pulsegate.example.toml");
    let mut sections: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("[[") {
            current = String::new();
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            sections.entry(current.clone()).or_default();
        } else if let Some((key, _)) = line.split_once('=') {
            if !line.starts_with('#') && !current.is_empty() {
                sections
                    .entry(current.clone())
                    .or_default()
                    .insert(key.trim().to_string());
            }
        }
    }
    sections
}

/// Tables below `[ingest]`, `[normalizer]` and `[connect]` that are not a provider's.
const NOT_PROVIDERS: &[&str] = &["ingest.throttle", "normalizer.backfill", "normalizer.retry"];

#[test]
fn example_config_has_a_section_for_every_credential_and_no_unknown_provider() {
    let sections = example_sections();
    for name in sections.keys() {
        let mut parts = name.split('.');
        let (Some(stage), Some(sub)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !["ingest", "normalizer", "connect"].contains(&stage)
            || NOT_PROVIDERS.contains(&format!("{stage}.{sub}").as_str())
        {
            continue;
        }
        let p = Provider::from_slug(sub).filter(|p| p.slug() == sub);
        assert!(
            p.is_some(),
            "pulsegate.example.toml: [{name}] names no registered provider (slugs: {:?})",
            slugs()
        );
    }
    for d in descriptors() {
        let slug = d.id.slug();
        if matches!(d.push, PushMode::Signed | PushMode::PathToken) {
            assert!(
                sections.contains_key(&format!("ingest.{slug}")),
                "pulsegate.example.toml: {} pushes, so it needs an [ingest.{slug}] section",
                d.display_name
            );
        }
        for field in d.credentials {
            for target in field.targets {
                let (table, key) = target.rsplit_once('.').expect("targets are table.key");
                assert!(
                    sections.get(table).is_some_and(|keys| keys.contains(key)),
                    "pulsegate.example.toml: {}'s credential {} sets {target}: show it as \
                     `{key} = …` in a [{table}] section",
                    d.display_name,
                    field.name
                );
            }
        }
    }
}
