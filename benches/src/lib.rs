//! Shared pieces of pulsegate's benchmarks.

pub mod load;

/// A Strava event body for activity `object_id` of athlete `owner_id`.
pub fn strava_event(object_id: u64, owner_id: u64, subscription_id: u64) -> String {
    format!(
        r#"{{"aspect_type":"create","event_time":1732550400,"object_id":{object_id},"object_type":"activity","owner_id":{owner_id},"subscription_id":{subscription_id},"updates":{{}}}}"#
    )
}
