//! Strava `sport_type` / `type` → Terra `ActivityType` code (`metadata.type`).
//!
//! Terra's codes are those of its `ActivityType` enum (Google Fit's numbering); anything
//! unmapped is `OTHER` (108), as Terra itself does. docs/providers/strava.md shows the
//! same table.

/// Terra's `OTHER`: the code for unknown or unmapped activity types.
pub const TERRA_OTHER: i64 = 108;

/// Terra `UploadType` codes.
pub const UPLOAD_AUTOMATIC: i64 = 1;
pub const UPLOAD_MANUAL: i64 = 2;

/// (Strava sport type, Terra code, Terra name). Strava's legacy `type` values are a
/// subset of its sport types, so one table serves both fields. Writes map a Terra code
/// back to the first sport type listed with it ([`strava_sport_type`]).
pub const SPORT_TYPES: &[(&str, i64, &str)] = &[
    ("Run", 8, "RUNNING"),
    ("TrailRun", 8, "RUNNING"),
    ("VirtualRun", 58, "TREADMILL_RUNNING"),
    ("Walk", 7, "WALKING"),
    ("Hike", 35, "HIKING"),
    ("Ride", 1, "BIKING"),
    ("GravelRide", 1, "BIKING"),
    ("EBikeRide", 1, "BIKING"),
    ("Velomobile", 1, "BIKING"),
    ("MountainBikeRide", 15, "MOUNTAIN_BIKING"),
    ("EMountainBikeRide", 15, "MOUNTAIN_BIKING"),
    ("VirtualRide", 18, "STATIONARY_BIKING"),
    ("Handcycle", 14, "HANDBIKING"),
    ("Swim", 82, "SWIMMING"),
    ("AlpineSki", 68, "DOWNHILL_SKIING"),
    ("BackcountrySki", 66, "BACK_COUNTRY_SKIING"),
    ("NordicSki", 67, "CROSS_COUNTRY_SKIING"),
    ("RollerSki", 70, "ROLLER_SKIING"),
    ("Snowboard", 73, "SNOWBOARDING"),
    ("Snowshoe", 75, "SNOWSHOEING"),
    ("IceSkate", 104, "ICE_SKATING"),
    ("InlineSkate", 62, "SKATING"),
    ("Skateboard", 61, "SKATEBOARDING"),
    ("Kayaking", 40, "KAYAKING"),
    ("Canoeing", 40, "KAYAKING"),
    ("Rowing", 53, "ROWING"),
    ("VirtualRow", 54, "ROWING_MACHINE"),
    ("StandUpPaddling", 79, "STAND_UP_PADDLEBOARDING"),
    ("Surfing", 81, "SURFING"),
    ("Kitesurf", 43, "KITESURFING"),
    ("Windsurf", 99, "WINDSURFING"),
    ("Sail", 59, "SAILING"),
    ("RockClimbing", 52, "ROCK_CLIMBING"),
    ("Crossfit", 113, "CROSSFIT"),
    ("HighIntensityIntervalTraining", 114, "HIIT"),
    ("Elliptical", 25, "ELLIPTICAL"),
    ("StairStepper", 78, "STAIR_CLIMBING_MACHINE"),
    ("WeightTraining", 80, "STRENGTH_TRAINING"),
    ("Yoga", 100, "YOGA"),
    ("Pilates", 49, "PILATES"),
    ("Wheelchair", 98, "WHEELCHAIR"),
    ("Golf", 32, "GOLF"),
    ("Soccer", 29, "ENGLISH_FOOTBALL"),
    ("Tennis", 87, "TENNIS"),
    ("TableTennis", 85, "TABLE_TENNIS"),
    ("Badminton", 10, "BADMINTON"),
    ("Squash", 76, "SQUASH"),
    ("Racquetball", 51, "RACQUETBALL"),
    ("Pickleball", TERRA_OTHER, "OTHER"),
    ("Workout", TERRA_OTHER, "OTHER"),
];

fn lookup(strava: &str) -> Option<i64> {
    SPORT_TYPES
        .iter()
        .find(|(s, _, _)| s.eq_ignore_ascii_case(strava))
        .map(|(_, code, _)| *code)
}

/// Terra's activity type for a Strava activity: `sport_type` first (finer), then the
/// deprecated `type`, else [`TERRA_OTHER`].
pub fn terra_activity_type(sport_type: Option<&str>, legacy_type: Option<&str>) -> i64 {
    sport_type
        .and_then(lookup)
        .or_else(|| legacy_type.and_then(lookup))
        .unwrap_or(TERRA_OTHER)
}

/// The Strava `sport_type` for a Terra activity type code (writes): the first listed
/// with that code; `Workout` for OTHER and for codes Strava has no sport type for.
pub fn strava_sport_type(code: i64) -> &'static str {
    SPORT_TYPES
        .iter()
        .find(|(_, c, _)| *c == code && code != TERRA_OTHER)
        .map(|(s, _, _)| *s)
        .unwrap_or("Workout")
}

/// Terra codes of indoor, trainer-based activities (Strava's `trainer` flag on writes):
/// STATIONARY_BIKING, TREADMILL_RUNNING, ROWING_MACHINE.
pub fn is_trainer(code: i64) -> bool {
    matches!(code, 18 | 58 | 54)
}

/// Terra's upload type: Strava `manual: true` → MANUAL, anything else → AUTOMATIC.
pub fn terra_upload_type(manual: Option<bool>) -> i64 {
    if manual == Some(true) {
        UPLOAD_MANUAL
    } else {
        UPLOAD_AUTOMATIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_types() {
        assert_eq!(terra_activity_type(Some("Run"), Some("Run")), 8);
        assert_eq!(terra_activity_type(Some("Ride"), None), 1);
        assert_eq!(terra_activity_type(Some("Walk"), None), 7);
        assert_eq!(terra_activity_type(Some("Swim"), None), 82);
        assert_eq!(terra_activity_type(Some("Hike"), None), 35);
        assert_eq!(
            terra_activity_type(Some("MountainBikeRide"), Some("Ride")),
            15
        );
        assert_eq!(
            terra_activity_type(Some("VirtualRide"), Some("VirtualRide")),
            18
        );
        assert_eq!(terra_activity_type(Some("WeightTraining"), None), 80);
        assert_eq!(terra_activity_type(Some("Yoga"), None), 100);
    }

    #[test]
    fn falls_back_to_legacy_type_then_other() {
        assert_eq!(terra_activity_type(Some("SomethingNew"), Some("Run")), 8);
        assert_eq!(terra_activity_type(None, Some("Hike")), 35);
        assert_eq!(
            terra_activity_type(Some("SomethingNew"), Some("AlsoNew")),
            TERRA_OTHER
        );
        assert_eq!(terra_activity_type(None, None), TERRA_OTHER);
        assert_eq!(terra_activity_type(Some("Workout"), None), TERRA_OTHER);
    }

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for (s, code, name) in SPORT_TYPES {
            assert!(seen.insert(*s), "{s} listed twice");
            assert!((0..=122).contains(code), "{s}: {code}");
            assert!(!name.is_empty());
        }
    }

    #[test]
    fn terra_codes_back_to_strava_sport_types() {
        assert_eq!(strava_sport_type(8), "Run");
        assert_eq!(strava_sport_type(1), "Ride");
        assert_eq!(strava_sport_type(15), "MountainBikeRide");
        assert_eq!(strava_sport_type(18), "VirtualRide");
        assert_eq!(strava_sport_type(40), "Kayaking");
        assert_eq!(strava_sport_type(82), "Swim");
        assert_eq!(strava_sport_type(TERRA_OTHER), "Workout");
        assert_eq!(
            strava_sport_type(24),
            "Workout",
            "DANCING: no Strava sport type"
        );
        // Every sport type written maps back to the same Terra code.
        for (_, code, _) in SPORT_TYPES {
            let s = strava_sport_type(*code);
            assert_eq!(terra_activity_type(Some(s), None), *code, "{s}");
        }
        assert!(is_trainer(18) && is_trainer(58) && !is_trainer(8));
    }

    #[test]
    fn upload_types() {
        assert_eq!(terra_upload_type(Some(true)), 2);
        assert_eq!(terra_upload_type(Some(false)), 1);
        assert_eq!(terra_upload_type(None), 1);
    }
}
