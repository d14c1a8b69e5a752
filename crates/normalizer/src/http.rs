//! The HTTP client providers' API calls go through, shared with connect: it lives in
//! `pulsegate-provider` (feature `http`).

pub use pulsegate_provider::http::*;
