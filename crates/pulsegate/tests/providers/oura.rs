//! oura: end-to-end tests (being written).
