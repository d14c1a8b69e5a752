//! Destinations other than HTTPS webhooks, by URL scheme.

pub mod s3;
