//! whoop: end-to-end tests (being written).
