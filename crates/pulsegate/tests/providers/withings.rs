//! withings: end-to-end tests (being written).
