//! A window's data payload over the per-payload cap, split into several payloads.
//!
//! Why here, where a request's data events are built, and not in the dispatcher: the
//! chunks become ordinary events on the `events` log, each with its own deterministic
//! id, so everything downstream (every destination kind, retries, dead letters,
//! history, resend, ordering behind `large_request_sending`) handles them with no new
//! machinery, and no bus record is larger than the cap. Why only for historical
//! requests: that is what Terra chunks (a request's range); a pushed notification
//! is one object and goes whole, as at Terra (a claim-check destination takes large
//! single payloads).

use std::borrow::Cow;
use std::fmt;

use pulsegate_schema::{stable_id, NormalizedEvent};
use serde::de::{MapAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;

use crate::NormalizeError;

/// `event` as payloads of at most `cap` bytes each, its `data` array split in order
/// (concatenated, the chunks' `data` is the original's). Every chunk keeps the
/// event's `reference`, type and user; chunk `i` of `n` gets the id
/// `stable_id(event_id, "chunk", i, n)`, the same whenever the window is processed
/// again. A body within the cap (or `cap` 0) is returned as it is; a single data
/// object larger than the cap is sent alone in its own chunk (an object is never cut).
pub fn split_by_size(
    event: NormalizedEvent,
    cap: usize,
) -> Result<Vec<NormalizedEvent>, NormalizeError> {
    let body = event.body.get();
    if cap == 0 || body.len() <= cap {
        return Ok(vec![event]);
    }
    let fields = top_level_fields(body)?;
    let Some(data) = fields.iter().find(|(k, _)| k == "data").map(|(_, v)| *v) else {
        return Ok(vec![event]);
    };
    let items: Vec<&RawValue> = serde_json::from_str(data.get()).map_err(encode)?;
    // The body without its data: `{…,"data":[],…}`.
    let envelope = body.len() - data.get().len() + 2;
    let mut chunks: Vec<Vec<&RawValue>> = vec![Vec::new()];
    let mut size = envelope;
    for item in items {
        let current = chunks.last_mut().expect("one chunk at least");
        let comma = usize::from(!current.is_empty());
        if !current.is_empty() && size + comma + item.get().len() > cap {
            chunks.push(vec![item]);
            size = envelope + item.get().len();
        } else {
            current.push(item);
            size += comma + item.get().len();
        }
    }
    if chunks.len() == 1 {
        return Ok(vec![event]);
    }
    let n = chunks.len().to_string();
    let mut out = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let body = rebuild(&fields, chunk)?;
        out.push(NormalizedEvent {
            event_id: stable_id(&[&event.event_id, "chunk", &i.to_string(), &n]),
            body: RawValue::from_string(body).map_err(encode)?,
            event_type: event.event_type,
            user_id: event.user_id.clone(),
            reference: event.reference.clone(),
            received_at_ms: event.received_at_ms,
            dev_id: event.dev_id.clone(),
        });
    }
    Ok(out)
}

fn encode(e: serde_json::Error) -> NormalizeError {
    NormalizeError::Encode(e.to_string())
}

/// The body with `data` replaced by `items`, every other field as it was, in order.
fn rebuild(
    fields: &[(Cow<'_, str>, &RawValue)],
    items: &[&RawValue],
) -> Result<String, NormalizeError> {
    let mut s = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::to_string(key).map_err(encode)?);
        s.push(':');
        if key == "data" {
            s.push('[');
            for (j, item) in items.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(item.get());
            }
            s.push(']');
        } else {
            s.push_str(value.get());
        }
    }
    s.push('}');
    Ok(s)
}

/// A JSON object's fields in their order, values unparsed.
fn top_level_fields(body: &str) -> Result<Vec<(Cow<'_, str>, &RawValue)>, NormalizeError> {
    struct Fields;
    impl<'de> Visitor<'de> for Fields {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(body);
    (&mut de).deserialize_map(Fields).map_err(encode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsegate_schema::EventType;
    use serde_json::{json, Value};

    fn event(data: Vec<Value>) -> NormalizedEvent {
        let body = json!({"type": "activity", "user": {"user_id": "u1", "provider": "GARMIN"},
            "data": data, "version": "2022-03-16"});
        NormalizedEvent {
            event_id: "ev-1".into(),
            event_type: EventType::Activity,
            user_id: "u1".into(),
            reference: "ref-1".into(),
            received_at_ms: 7,
            body: serde_json::value::to_raw_value(&body).unwrap(),
            dev_id: None,
        }
    }

    fn objects(n: usize, filler: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"metadata": {"summary_id": format!("s{i}")}, "x": "y".repeat(filler)}))
            .collect()
    }

    #[test]
    fn an_oversized_payload_becomes_chunks_within_the_cap_whose_data_adds_up() {
        let data = objects(40, 1000);
        let original = event(data.clone());
        let cap = 8 * 1024;
        assert!(original.body.get().len() > 4 * cap);
        let chunks = split_by_size(original, cap).unwrap();
        assert!(chunks.len() >= 5, "{} chunks", chunks.len());
        let mut joined = Vec::new();
        let mut ids = std::collections::HashSet::new();
        for c in &chunks {
            assert!(c.body.get().len() <= cap, "{} > {cap}", c.body.get().len());
            assert_eq!(c.reference, "ref-1");
            assert_eq!(c.user_id, "u1");
            assert_eq!(c.received_at_ms, 7);
            let body: Value = serde_json::from_str(c.body.get()).unwrap();
            assert_eq!(body["type"], "activity");
            assert_eq!(body["user"]["user_id"], "u1");
            assert_eq!(body["version"], "2022-03-16");
            joined.extend(body["data"].as_array().unwrap().iter().cloned());
            assert!(ids.insert(c.event_id.clone()), "ids differ per chunk");
            assert_ne!(c.event_id, "ev-1");
        }
        assert_eq!(
            joined, data,
            "the chunks' data, in order, is the original's"
        );
        // Replayed (a crash before the append was acknowledged): the same ids.
        let again = split_by_size(event(data.clone()), cap).unwrap();
        let again_ids: Vec<_> = again.iter().map(|c| c.event_id.clone()).collect();
        let first_ids: Vec<_> = chunks.iter().map(|c| c.event_id.clone()).collect();
        assert_eq!(again_ids, first_ids);
    }

    #[test]
    fn within_the_cap_or_unsplittable_it_goes_whole() {
        let small = event(objects(3, 10));
        let small_body = small.body.get().to_string();
        let out = split_by_size(small, 10_000).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event_id, "ev-1");
        assert_eq!(out[0].body.get(), small_body);
        // 0: no cap.
        assert_eq!(split_by_size(event(objects(50, 1000)), 0).unwrap().len(), 1);
        // One object larger than the cap is never cut.
        let one = split_by_size(event(objects(1, 5000)), 1000).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].event_id, "ev-1");
        // A big object among small ones travels alone.
        let mut data = objects(4, 10);
        data.insert(2, json!({"x": "z".repeat(5000)}));
        let out = split_by_size(event(data.clone()), 1000).unwrap();
        let sizes: Vec<usize> = out
            .iter()
            .map(|c| {
                serde_json::from_str::<Value>(c.body.get()).unwrap()["data"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), data.len());
        assert!(out.len() >= 2);
    }
}
