//! A large request's announcement before its data.
//!
//! A destination's worker delivers up to `concurrency_per_destination` events at once,
//! so the `large_request_sending` of a `to_webhook` request and its first data chunk,
//! stored one after the other, could otherwise reach the customer in either order.
//! When the worker reads a `large_request_sending` it opens a gate for its `reference`
//! (synchronously, in log order: see `pulsegate_bus::run_consumer`); events with that
//! reference read while the gate is open wait for it to close, which happens when the
//! announcement's handling has finished (delivered, filtered out, or failed and handed
//! to the retry tiers). Other users and other requests are not held.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use tokio::sync::watch;

/// The event type whose delivery a request's other events wait for.
pub(crate) const ANNOUNCEMENT: &str = "large_request_sending";

/// The open gates of one worker, by reference.
#[derive(Default)]
pub(crate) struct Gates {
    open: Mutex<HashMap<String, watch::Receiver<()>>>,
}

/// What one record must do around its handling.
pub(crate) enum Gate {
    /// Nothing.
    None,
    /// Wait for this announcement to finish first.
    Wait(watch::Receiver<()>),
    /// This record is an announcement: dropping it (once handled) opens the way.
    Hold { _holder: Holder },
}

/// Closes its gate when dropped (whatever the handling's outcome, or if its future is
/// dropped).
pub(crate) struct Holder {
    gates: Arc<Gates>,
    reference: String,
    rx: watch::Receiver<()>,
    _tx: watch::Sender<()>,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let mut open = self.gates.open.lock().unwrap_or_else(|e| e.into_inner());
        if open
            .get(&self.reference)
            .is_some_and(|rx| rx.same_channel(&self.rx))
        {
            open.remove(&self.reference);
        }
        // `_tx` drops after this: the waiters' `changed()` returns.
    }
}

impl Gates {
    /// Called in log order for every record, before its handling starts.
    pub(crate) fn gate(self: &Arc<Self>, payload: &[u8]) -> Gate {
        let Some(Header {
            event_type,
            reference,
        }) = read_header(payload)
        else {
            return Gate::None;
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if event_type == ANNOUNCEMENT {
            let (tx, rx) = watch::channel(());
            open.insert(reference.clone(), rx.clone());
            return Gate::Hold {
                _holder: Holder {
                    gates: self.clone(),
                    reference,
                    rx,
                    _tx: tx,
                },
            };
        }
        match open.get(&reference) {
            Some(rx) => Gate::Wait(rx.clone()),
            None => Gate::None,
        }
    }

    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.open.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl Gate {
    /// Waits until the way is open (at once unless this is a `Wait`). `false` if
    /// `stop` fired first.
    pub(crate) async fn pass(&mut self, stop: &tokio_util::sync::CancellationToken) -> bool {
        let Gate::Wait(rx) = self else {
            return true;
        };
        tokio::select! {
            // Open already: pass, even when stopping (the record was taken).
            biased;
            // Err (sender dropped) is the signal: nothing is ever sent.
            _ = rx.changed() => true,
            _ = stop.cancelled() => false,
        }
    }
}

/// An events record's `type` and `reference`.
#[derive(Debug, PartialEq)]
struct Header {
    event_type: String,
    reference: String,
}

/// Reads `type` and `reference` from an events record (a `NormalizedEvent`), stopping
/// as soon as both are known: `NormalizedEvent` writes them before `body`, so the body
/// is not walked. `None` if either is missing or the record is unreadable (the handler
/// reports that).
fn read_header(payload: &[u8]) -> Option<Header> {
    let mut found = (None, None);
    let mut de = serde_json::Deserializer::from_slice(payload);
    // Stopping early leaves the map unfinished, which serde_json reports as an error
    // after the visitor returned: what the visitor found is what counts.
    let _ = serde::Deserializer::deserialize_map(&mut de, HeaderVisitor(&mut found));
    match found {
        (Some(event_type), Some(reference)) => Some(Header {
            event_type,
            reference,
        }),
        _ => None,
    }
}

struct HeaderVisitor<'f>(&'f mut (Option<String>, Option<String>));

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an events record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "type" => self.0 .0 = Some(map.next_value::<Cow<'de, str>>()?.into_owned()),
                "reference" => self.0 .1 = Some(map.next_value::<Cow<'de, str>>()?.into_owned()),
                _ => {
                    map.next_value_seed(SkipSeed)?;
                }
            }
            if self.0 .0.is_some() && self.0 .1.is_some() {
                return Ok(());
            }
        }
        Ok(())
    }
}

struct SkipSeed;

impl<'de> DeserializeSeed<'de> for SkipSeed {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        serde::Deserialize::deserialize(d).map(|_: IgnoredAny| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t: &str, reference: &str) -> Vec<u8> {
        serde_json::to_vec(&pulsegate_schema::NormalizedEvent {
            event_id: "e".into(),
            event_type: serde_json::from_value(serde_json::Value::String(t.into())).unwrap(),
            user_id: "u".into(),
            reference: reference.into(),
            received_at_ms: 1,
            body: serde_json::value::to_raw_value(&serde_json::json!({"type": t})).unwrap(),
            dev_id: None,
        })
        .unwrap()
    }

    #[test]
    fn reads_type_and_reference_of_a_normalized_event() {
        assert_eq!(
            read_header(&record("activity", "r-1")),
            Some(Header {
                event_type: "activity".into(),
                reference: "r-1".into()
            })
        );
        assert_eq!(read_header(b"not json"), None);
        assert_eq!(read_header(br#"{"type": "activity"}"#), None);
    }

    #[tokio::test]
    async fn data_of_a_request_waits_for_its_announcement_only() {
        let gates = Arc::new(Gates::default());
        let stop = tokio_util::sync::CancellationToken::new();
        let holder = gates.gate(&record(ANNOUNCEMENT, "r-1"));
        assert!(matches!(holder, Gate::Hold { .. }));
        let mut chunk = gates.gate(&record("activity", "r-1"));
        assert!(matches!(chunk, Gate::Wait(_)));
        // Another request and another reference pass at once.
        assert!(matches!(gates.gate(&record("activity", "r-2")), Gate::None));
        let waiting = tokio::spawn(async move { chunk.pass(&stop).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "the chunk went before its announcement"
        );
        drop(holder);
        assert!(waiting.await.unwrap());
        assert_eq!(gates.open_count(), 0);
        assert!(matches!(gates.gate(&record("activity", "r-1")), Gate::None));
    }
}
