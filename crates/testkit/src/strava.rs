//! A mock of Strava's REST API (written by the normalizer work).
