//! The upload format of on-device sources (Apple Health, Samsung Health, Health
//! Connect): a mobile app reads the device store and posts batches of Terra-shaped
//! records to `/v1/ingest/sdk/{provider}`. Ingest validates with these types; the
//! normalizer maps with them. See docs/providers/sdk.md.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::terra::{Activity, Body, Daily, Sleep};

/// Most records in one upload.
pub const MAX_RECORDS: usize = 1000;
/// Longest client record id.
pub const MAX_RECORD_ID: usize = 200;
/// Data types an app can upload.
pub const UPLOADABLE: [&str; 4] = ["activity", "body", "daily", "sleep"];

/// `{"records": [...]}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SdkUpload {
    pub records: Vec<SdkRecord>,
}

/// One record: the client's id (uploads are idempotent on it), the data type, and the
/// data in Terra's model for that type.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SdkRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub data: Box<RawValue>,
}

/// A record's data, decoded into its Terra model.
#[derive(Debug)]
pub enum SdkData {
    Activity(Box<Activity>),
    Body(Box<Body>),
    Daily(Box<Daily>),
    Sleep(Box<Sleep>),
}

impl SdkRecord {
    /// Decodes `data` as the model of `data_type`. The error says what is wrong,
    /// without echoing the data.
    pub fn decode(&self) -> Result<SdkData, String> {
        let raw = self.data.get();
        let short = |e: serde_json::Error| {
            let msg = e.to_string();
            msg.chars().take(160).collect::<String>()
        };
        Ok(match self.data_type.as_str() {
            "activity" => SdkData::Activity(serde_json::from_str(raw).map_err(short)?),
            "body" => SdkData::Body(serde_json::from_str(raw).map_err(short)?),
            "daily" => SdkData::Daily(serde_json::from_str(raw).map_err(short)?),
            "sleep" => SdkData::Sleep(serde_json::from_str(raw).map_err(short)?),
            other => return Err(format!("type {other:?} cannot be uploaded")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_uploadable_type_and_refuses_others() {
        let upload: SdkUpload = serde_json::from_str(
            r#"{"records":[
              {"id":"a","type":"activity","data":{"metadata":{"summary_id":"a","start_time":"2026-11-25T07:00:00+01:00","end_time":"2026-11-25T07:30:00+01:00","type":8,"upload_type":1}}},
              {"id":"b","type":"body","data":{"metadata":{"start_time":"2026-11-25T07:00:00+01:00","end_time":"2026-11-25T07:00:00+01:00"}}},
              {"id":"c","type":"daily","data":{"metadata":{"start_time":"2026-11-25T00:00:00+01:00","end_time":"2026-11-26T00:00:00+01:00","upload_type":1}}},
              {"id":"d","type":"sleep","data":{"metadata":{"start_time":"2026-11-24T23:00:00+01:00","end_time":"2026-11-25T07:00:00+01:00","upload_type":1}}},
              {"id":"e","type":"nutrition","data":{}},
              {"id":"f","type":"sleep","data":{"metadata":{}}}
            ]}"#,
        )
        .unwrap();
        let r = &upload.records;
        assert!(matches!(r[0].decode(), Ok(SdkData::Activity(_))));
        assert!(matches!(r[1].decode(), Ok(SdkData::Body(_))));
        assert!(matches!(r[2].decode(), Ok(SdkData::Daily(_))));
        assert!(matches!(r[3].decode(), Ok(SdkData::Sleep(_))));
        assert!(r[4].decode().unwrap_err().contains("cannot be uploaded"));
        assert!(r[5].decode().unwrap_err().contains("missing field"));
        assert!(serde_json::from_str::<SdkUpload>(r#"{"records":[],"x":1}"#).is_err());
    }
}
