//! Shared pieces of pulsegate's benchmarks.

pub mod cpu_probe;
pub mod fsync_probe;
pub mod load;
pub mod relay;

/// A Strava event body for activity `object_id` of athlete `owner_id`.
pub fn strava_event(object_id: u64, owner_id: u64, subscription_id: u64) -> String {
    format!(
        r#"{{"aspect_type":"create","event_time":1732550400,"object_id":{object_id},"object_type":"activity","owner_id":{owner_id},"subscription_id":{subscription_id},"updates":{{}}}}"#
    )
}

/// A Garmin push that carries its data: one activity (`summary_id`) of user
/// `user_id`, the fields of Garmin's documented push example.
pub fn garmin_activity_push(summary_id: u64, user_id: &str) -> String {
    format!(
        r#"{{"activities":[{{"userId":"{user_id}","summaryId":"{summary_id}","activityId":{summary_id},"activityName":"Bench Running","durationInSeconds":1789,"startTimeInSeconds":1512234126,"startTimeOffsetInSeconds":-25200,"activityType":"RUNNING","averageHeartRateInBeatsPerMinute":148,"averageRunCadenceInStepsPerMinute":151.0,"averageSpeedInMetersPerSecond":2.888,"averagePaceInMinutesPerKilometer":5.77,"activeKilocalories":367,"deviceName":"forerunner935","distanceInMeters":5098.68,"maxHeartRateInBeatsPerMinute":173,"maxPaceInMinutesPerKilometer":4.27,"maxRunCadenceInStepsPerMinute":173.0,"maxSpeedInMetersPerSecond":3.9,"steps":5022,"totalElevationGainInMeters":16.0,"totalElevationLossInMeters":22.0}}]}}"#
    )
}

/// The Garmin user id the bench connects for athlete `n`.
pub fn garmin_user(n: u64) -> String {
    format!("bench-garmin-user-{n}")
}
