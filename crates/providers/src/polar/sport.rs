//! Polar `detailed_sport_info` / `sport` → Terra `ActivityType` code (`metadata.type`).
//! Names are compared upper-case with `-` and spaces read as `_`; unknown → 108 (OTHER).

/// Terra's `OTHER`.
pub const TERRA_OTHER: i64 = 108;

/// (Polar sport name, Terra code, Terra name).
pub const SPORTS: &[(&str, i64, &str)] = &[
    ("RUNNING", 8, "RUNNING"),
    ("ROAD_RUNNING", 8, "RUNNING"),
    ("TRAIL_RUNNING", 8, "RUNNING"),
    ("TRACK_AND_FIELD_RUNNING", 8, "RUNNING"),
    ("ORIENTEERING", 8, "RUNNING"),
    ("TREADMILL_RUNNING", 58, "TREADMILL_RUNNING"),
    ("JOGGING", 56, "JOGGING"),
    ("WALKING", 7, "WALKING"),
    ("NORDIC_WALKING", 94, "NORDIC_WALKING"),
    ("HIKING", 35, "HIKING"),
    ("CYCLING", 1, "BIKING"),
    ("ROAD_BIKING", 16, "ROAD_BIKING"),
    ("MOUNTAIN_BIKING", 15, "MOUNTAIN_BIKING"),
    ("INDOOR_CYCLING", 18, "STATIONARY_BIKING"),
    ("SPINNING", 17, "SPINNING"),
    ("SWIMMING", 82, "SWIMMING"),
    ("POOL_SWIMMING", 83, "SWIMMING_SWIMMING_POOL"),
    ("OPEN_WATER_SWIMMING", 84, "SWIMMING_OPEN_WATER"),
    ("ROWING", 53, "ROWING"),
    ("INDOOR_ROWING", 54, "ROWING_MACHINE"),
    ("KAYAKING", 40, "KAYAKING"),
    ("WATERSPORTS_KAYAKING", 40, "KAYAKING"),
    ("CANOEING", 40, "KAYAKING"),
    ("WATERSPORTS_WATERSKI", 108, "OTHER"),
    ("WATERSPORTS_WAKEBOARDING", 92, "WAKEBOARDING"),
    ("WATERSPORTS_WINDSURFING", 99, "WINDSURFING"),
    ("WATERSPORTS_KITESURFING", 43, "KITESURFING"),
    ("WATERSPORTS_SURFING", 81, "SURFING"),
    ("SUP", 79, "STAND_UP_PADDLEBOARDING"),
    ("CROSS_COUNTRY_SKIING", 67, "CROSS_COUNTRY_SKIING"),
    ("DOWNHILL_SKIING", 68, "DOWNHILL_SKIING"),
    ("BACKCOUNTRY_SKIING", 66, "BACK_COUNTRY_SKIING"),
    ("ROLLER_SKIING", 70, "ROLLER_SKIING"),
    ("SNOWBOARDING", 73, "SNOWBOARDING"),
    ("SNOWSHOE_TREKKING", 75, "SNOWSHOEING"),
    ("SKATING", 62, "SKATING"),
    ("INLINE_SKATING", 62, "SKATING"),
    ("ICE_SKATING", 104, "ICE_SKATING"),
    ("STRENGTH_TRAINING", 80, "STRENGTH_TRAINING"),
    ("CORE", 80, "STRENGTH_TRAINING"),
    ("CIRCUIT_TRAINING", 22, "CIRCUIT_TRAINING"),
    ("CROSSFIT", 113, "CROSSFIT"),
    ("HIIT", 114, "HIIT"),
    ("AEROBICS", 9, "AEROBICS"),
    ("GROUP_EXERCISE", 9, "AEROBICS"),
    ("ELLIPTICAL", 25, "ELLIPTICAL"),
    ("CROSS_TRAINER", 25, "ELLIPTICAL"),
    ("YOGA", 100, "YOGA"),
    ("PILATES", 49, "PILATES"),
    ("DANCING", 24, "DANCING"),
    ("BOXING", 20, "BOXING"),
    ("KICKBOXING", 42, "KICKBOXING"),
    ("MARTIAL_ARTS", 44, "MARTIAL_ARTS"),
    ("CLIMBING", 52, "ROCK_CLIMBING"),
    ("GOLF", 32, "GOLF"),
    ("SOCCER", 29, "ENGLISH_FOOTBALL"),
    ("FOOTBALL", 29, "ENGLISH_FOOTBALL"),
    ("AMERICAN_FOOTBALL", 27, "AMERICAN_FOOTBALL"),
    ("BASKETBALL", 12, "BASKETBALL"),
    ("VOLLEYBALL", 89, "VOLLEYBALL"),
    ("HANDBALL", 34, "HANDBALL"),
    ("ICE_HOCKEY", 36, "HOCKEY"),
    ("FLOORBALL", 36, "HOCKEY"),
    ("TENNIS", 87, "TENNIS"),
    ("TABLE_TENNIS", 85, "TABLE_TENNIS"),
    ("BADMINTON", 10, "BADMINTON"),
    ("SQUASH", 76, "SQUASH"),
    ("RUGBY", 55, "RUGBY"),
    ("OTHER", 108, "OTHER"),
];

fn lookup(name: &str) -> Option<i64> {
    let key: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    SPORTS
        .iter()
        .find(|(s, _, _)| *s == key)
        .map(|(_, code, _)| *code)
}

/// The finer `detailed_sport_info` first, then `sport`, else OTHER.
pub fn terra_activity_type(detailed: Option<&str>, sport: Option<&str>) -> i64 {
    detailed
        .and_then(lookup)
        .or_else(|| sport.and_then(lookup))
        .unwrap_or(TERRA_OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detailed_first_then_sport_then_other() {
        assert_eq!(
            terra_activity_type(Some("TRAIL_RUNNING"), Some("RUNNING")),
            8
        );
        assert_eq!(terra_activity_type(Some("cross-country skiing"), None), 67);
        assert_eq!(terra_activity_type(Some("UNHEARD_OF"), Some("CYCLING")), 1);
        assert_eq!(terra_activity_type(None, Some("nonsense")), TERRA_OTHER);
        assert_eq!(terra_activity_type(None, None), TERRA_OTHER);
    }
}
