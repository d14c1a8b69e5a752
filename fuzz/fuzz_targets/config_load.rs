//! The config loader (crates/pulsegate/src/config.rs, included by path: the binary crate
//! has no library target): arbitrary TOML through `Config::load`, the same function
//! `pulsegate serve --config` calls (file layer, then env, then validation). Must never
//! panic; a bad file is an error naming the key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/pulsegate/src/config.rs"]
mod config;

fn path() -> &'static std::path::Path {
    static P: OnceLock<std::path::PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::temp_dir().join(format!("pulsegate-fuzz-config-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    if std::fs::write(path(), data).is_ok() {
        let _ = config::Config::load(Some(path()));
    }
});
