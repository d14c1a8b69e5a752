//! Garmin `activityType` → Terra `ActivityType` code (`metadata.type`); unknown → 108
//! (OTHER). Garmin's `_WS` suffix (winter sports) is ignored for the lookup.

/// Terra's `OTHER`.
pub const TERRA_OTHER: i64 = 108;

/// (Garmin activity type, Terra code, Terra name).
pub const ACTIVITY_TYPES: &[(&str, i64, &str)] = &[
    ("RUNNING", 8, "RUNNING"),
    ("STREET_RUNNING", 8, "RUNNING"),
    ("TRACK_RUNNING", 8, "RUNNING"),
    ("TRAIL_RUNNING", 8, "RUNNING"),
    ("ULTRA_RUN", 8, "RUNNING"),
    ("OBSTACLE_RUN", 8, "RUNNING"),
    ("TREADMILL_RUNNING", 58, "TREADMILL_RUNNING"),
    ("INDOOR_RUNNING", 58, "TREADMILL_RUNNING"),
    ("VIRTUAL_RUN", 58, "TREADMILL_RUNNING"),
    ("WALKING", 7, "WALKING"),
    ("CASUAL_WALKING", 7, "WALKING"),
    ("SPEED_WALKING", 7, "WALKING"),
    ("HIKING", 35, "HIKING"),
    ("CYCLING", 1, "BIKING"),
    ("GRAVEL_CYCLING", 1, "BIKING"),
    ("CYCLOCROSS", 1, "BIKING"),
    ("RECUMBENT_CYCLING", 1, "BIKING"),
    ("TRACK_CYCLING", 1, "BIKING"),
    ("E_BIKE_FITNESS", 1, "BIKING"),
    ("ROAD_BIKING", 16, "ROAD_BIKING"),
    ("MOUNTAIN_BIKING", 15, "MOUNTAIN_BIKING"),
    ("DOWNHILL_BIKING", 15, "MOUNTAIN_BIKING"),
    ("E_BIKE_MOUNTAIN", 15, "MOUNTAIN_BIKING"),
    ("BMX", 1, "BIKING"),
    ("INDOOR_CYCLING", 18, "STATIONARY_BIKING"),
    ("VIRTUAL_RIDE", 18, "STATIONARY_BIKING"),
    ("SWIMMING", 82, "SWIMMING"),
    ("LAP_SWIMMING", 83, "SWIMMING_SWIMMING_POOL"),
    ("OPEN_WATER_SWIMMING", 84, "SWIMMING_OPEN_WATER"),
    ("ROWING", 53, "ROWING"),
    ("INDOOR_ROWING", 54, "ROWING_MACHINE"),
    ("KAYAKING", 40, "KAYAKING"),
    ("WHITEWATER_RAFTING_KAYAKING", 40, "KAYAKING"),
    ("STAND_UP_PADDLEBOARDING", 79, "STAND_UP_PADDLEBOARDING"),
    ("SURFING", 81, "SURFING"),
    ("WIND_KITE_SURFING", 43, "KITESURFING"),
    ("SAILING", 59, "SAILING"),
    ("CROSS_COUNTRY_SKIING", 67, "CROSS_COUNTRY_SKIING"),
    ("SKATE_SKIING", 67, "CROSS_COUNTRY_SKIING"),
    ("BACKCOUNTRY_SKIING_SNOWBOARDING", 66, "BACK_COUNTRY_SKIING"),
    ("RESORT_SKIING_SNOWBOARDING", 68, "DOWNHILL_SKIING"),
    ("SNOW_SHOE", 75, "SNOWSHOEING"),
    ("SNOWMOBILING", 74, "SNOWMOBILE"),
    ("SKATING", 104, "ICE_SKATING"),
    ("INLINE_SKATING", 62, "SKATING"),
    ("STRENGTH_TRAINING", 80, "STRENGTH_TRAINING"),
    ("HIIT", 114, "HIIT"),
    ("CARDIO_TRAINING", 22, "CIRCUIT_TRAINING"),
    ("INDOOR_CARDIO", 22, "CIRCUIT_TRAINING"),
    ("ELLIPTICAL", 25, "ELLIPTICAL"),
    ("STAIR_CLIMBING", 78, "STAIR_CLIMBING_MACHINE"),
    ("YOGA", 100, "YOGA"),
    ("PILATES", 49, "PILATES"),
    ("BREATHWORK", 122, "GUIDED_BREATHING"),
    ("ROCK_CLIMBING", 52, "ROCK_CLIMBING"),
    ("INDOOR_CLIMBING", 52, "ROCK_CLIMBING"),
    ("BOULDERING", 52, "ROCK_CLIMBING"),
    ("GOLF", 32, "GOLF"),
    ("TENNIS", 87, "TENNIS"),
    ("TABLE_TENNIS", 85, "TABLE_TENNIS"),
    ("BADMINTON", 10, "BADMINTON"),
    ("SQUASH", 76, "SQUASH"),
    ("RACQUETBALL", 51, "RACQUETBALL"),
    ("SOCCER", 29, "ENGLISH_FOOTBALL"),
    ("BASKETBALL", 12, "BASKETBALL"),
    ("VOLLEYBALL", 89, "VOLLEYBALL"),
    ("BOXING", 20, "BOXING"),
    ("MIXED_MARTIAL_ARTS", 46, "MIXED_MARTIAL_ARTS"),
    ("DANCE", 24, "DANCING"),
    ("FLOOR_CLIMBING", 77, "STAIR_CLIMBING"),
    ("OTHER", 108, "OTHER"),
];

/// Terra's activity type for a Garmin `activityType`, else OTHER.
pub fn terra_activity_type(garmin: Option<&str>) -> i64 {
    let Some(t) = garmin else { return TERRA_OTHER };
    let t = t.trim().to_ascii_uppercase();
    let t = t.strip_suffix("_WS").unwrap_or(&t);
    ACTIVITY_TYPES
        .iter()
        .find(|(g, _, _)| *g == t)
        .map(|(_, code, _)| *code)
        .unwrap_or(TERRA_OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(terra_activity_type(Some("RUNNING")), 8);
        assert_eq!(terra_activity_type(Some("lap_swimming")), 83);
        assert_eq!(terra_activity_type(Some("CROSS_COUNTRY_SKIING_WS")), 67);
        assert_eq!(terra_activity_type(Some("PADEL")), TERRA_OTHER);
        assert_eq!(terra_activity_type(None), TERRA_OTHER);
    }
}
