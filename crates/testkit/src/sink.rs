//! Customer webhook sink servers (written by the dispatcher work).
