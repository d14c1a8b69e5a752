//! The SDK upload parser (`POST /v1/ingest/sdk/{provider}`): the body as ingest parses it
//! (`SdkUpload`), then each record decoded into its Terra model, as ingest validates and
//! the normalizer maps it. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsegate_schema::sdk::{SdkUpload, MAX_RECORDS};

fuzz_target!(|data: &[u8]| {
    let Ok(upload) = serde_json::from_slice::<SdkUpload>(data) else {
        return;
    };
    for r in upload.records.iter().take(MAX_RECORDS) {
        if let Ok(d) = r.decode() {
            // What was accepted serializes back (it is stored and delivered).
            let _ = format!("{d:?}");
        }
    }
});
