//! Customer-facing payloads, field for field as in Terra's data models (`terra-python`'s
//! `terra/types`, checked against 1.1.0). Optional fields are skipped when absent, so bodies
//! carry no nulls and no field Terra's models do not know; the data models also deserialize
//! (missing optional fields become `None` / empty lists).
//!
//! Everything is re-exported here from the private modules:
//! - `activity`: [`Activity`] (the subset pulsegate fills today).
//! - `sleep`, `body`, `daily`, `athlete`: [`Sleep`], [`Body`], [`Daily`], [`Athlete`].
//! - `common`: sub-models Terra shares between data types (heart rate, device, oxygen, …).
//! - `samples`: the timestamped sample records.
//!
//! Wire names Terra spells with capitals (`BMI`, `MET_data`, `num_REM_events`,
//! `blood_glucose_mg_per_dL`, …) are lower-case Rust fields with a `serde(rename)`.
//! Terra's enumerated codes (`upload_type`, `timestamp_localization`, sample `level`s,
//! `recovery_level`, …) are `i64`.

mod activity;
mod athlete;
mod body;
mod common;
mod daily;
mod samples;
mod sleep;
#[cfg(test)]
mod tests;

pub use activity::*;
pub use athlete::*;
pub use body::*;
pub use common::*;
pub use daily::*;
pub use samples::*;
pub use sleep::*;

use serde::Serialize;

/// `TerraUser`.
///
/// Times are Terra's `2024-10-07T03:45:00.000000+00:00` (see [`crate::terra_timestamp`]).
/// `created_at` is in Terra's payloads and docs but not in terra-python 1.1.0's
/// `TerraUser` (its models allow extra fields).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct User {
    pub user_id: String,
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// In webhooks, when the webhook carrying this object was built (the user's latest
    /// webhook update); absent in `auth` events (a new user has had none, Terra's
    /// `null`). In API answers, when this process last delivered a webhook about the
    /// user, if it did since it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_webhook_update: Option<String>,
    /// When the connection was created; absent for connections stored before pulsegate
    /// recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// A data event: `ActivityEvent`, `SleepEvent`, … (`{"type","user","data","version"}`).
#[derive(Debug, Serialize)]
pub struct DataEvent<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub data: Vec<T>,
    pub version: &'a str,
}

/// Lifecycle events with a status and message: `DeauthEvent`, `AccessRevokedEvent`,
/// `ConnectionErrorEvent`. Terra's models for these carry no `version`.
#[derive(Debug, Serialize)]
pub struct StatusEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub status: &'a str,
    pub message: &'a str,
}

/// pulsegate's `activity_deleted`: the provider deleted an activity summary.
#[derive(Debug, Serialize)]
pub struct ActivityDeletedEvent<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub user: &'a User,
    pub data: Vec<DeletedSummary>,
    pub version: &'a str,
}

/// One deleted summary: Terra-style `{"summary_id"}`.
#[derive(Debug, Serialize)]
pub struct DeletedSummary {
    pub summary_id: String,
}
