//! How records, keys and topic specs are laid out in fjall.

use std::time::Duration;

use bytes::Bytes;

use crate::{BusError, TopicSpec};

pub(crate) fn keyspace_name(topic: &str) -> String {
    // fjall keyspace names allow a limited alphabet; topic names are ours and simple.
    let clean: String = topic
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("t_{clean}")
}

pub(crate) fn partition_keyspace_name(topic: &str, partition: u32) -> String {
    format!("{}_p{partition}", keyspace_name(topic))
}

/// How a partition's keyspace is created. Its records are only ever read by range
/// (consumers, retention, compaction, backup), never by point lookup, so a bloom filter
/// per table would hash every key at each flush and compaction for nothing; and its
/// values are sealed (AEAD ciphertext) wherever a key is configured, which no compression
/// shrinks. Options are stored with a keyspace: this applies to partitions created from
/// now on, older ones keep theirs (both read the same).
pub(crate) fn partition_options(memtable_bytes: u64) -> fjall::KeyspaceCreateOptions {
    use fjall::config::{CompressionPolicy, FilterPolicy};
    fjall::KeyspaceCreateOptions::default()
        .max_memtable_size(memtable_bytes)
        .filter_policy(FilterPolicy::disabled())
        .data_block_compression_policy(CompressionPolicy::disabled())
}

pub(crate) fn record_key(partition: u32, offset: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&partition.to_be_bytes());
    k[4..].copy_from_slice(&offset.to_be_bytes());
    k
}

pub(crate) fn decode_record_key(k: &[u8]) -> Result<(u32, u64), BusError> {
    if k.len() != 12 {
        return Err(BusError::Storage(format!(
            "bad record key length {}",
            k.len()
        )));
    }
    let p = u32::from_be_bytes(k[..4].try_into().expect("4 bytes"));
    let o = u64::from_be_bytes(k[4..].try_into().expect("8 bytes"));
    Ok((p, o))
}

/// First byte of a value written with a checksum. Values from before checksums start
/// with the timestamp's high byte, which is 0 for any millisecond time before the year
/// 2.2 million: the two formats never collide, so old data dirs open unchanged.
const VALUE_V1: u8 = 1;

/// `VALUE_V1 ++ crc32 (u32 BE, over everything after it) ++ timestamp_ms (u64 BE) ++
/// key_len (u32 BE) ++ key ++ payload`.
pub(crate) fn encode_value(ts: u64, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(17 + key.len() + payload.len());
    v.push(VALUE_V1);
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&(key.len() as u32).to_be_bytes());
    v.extend_from_slice(key);
    v.extend_from_slice(payload);
    let crc = crc32fast::hash(&v[5..]);
    v[1..5].copy_from_slice(&crc.to_be_bytes());
    v
}

/// Splits a stored value into (timestamp, key, payload); `None` if it is malformed or
/// its checksum does not match (callers report which record).
pub(crate) fn decode_value(v: &[u8]) -> Option<(u64, Bytes, Bytes)> {
    let body = match v.first()? {
        &VALUE_V1 => {
            let crc = u32::from_be_bytes(v.get(1..5)?.try_into().ok()?);
            let body = &v[5..];
            if crc32fast::hash(body) != crc {
                return None;
            }
            body
        }
        // Written before checksums (format 0).
        0 => v,
        _ => return None,
    };
    if body.len() < 12 {
        return None;
    }
    let ts = u64::from_be_bytes(body[..8].try_into().ok()?);
    let klen = u32::from_be_bytes(body[8..12].try_into().ok()?) as usize;
    let rest = &body[12..];
    if rest.len() < klen {
        return None;
    }
    Some((
        ts,
        Bytes::copy_from_slice(&rest[..klen]),
        Bytes::copy_from_slice(&rest[klen..]),
    ))
}

pub(crate) fn offset_key(group: &str, topic: &str, partition: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(group.len() + topic.len() + 6);
    k.extend_from_slice(group.as_bytes());
    k.push(0);
    k.extend_from_slice(topic.as_bytes());
    k.push(0);
    k.extend_from_slice(&partition.to_be_bytes());
    k
}

pub(crate) fn encode_spec(spec: &TopicSpec) -> Vec<u8> {
    let retention_ms = spec.retention.map_or(0, |d| d.as_millis() as u64);
    let mut v = Vec::with_capacity(21);
    v.extend_from_slice(&spec.partitions.to_be_bytes());
    v.push(u8::from(spec.compacted));
    v.extend_from_slice(&retention_ms.to_be_bytes());
    // Specs stored before byte bounds are 13 bytes long and read as unbounded.
    if let Some(max) = spec.max_bytes {
        v.extend_from_slice(&max.to_be_bytes());
    }
    v
}

pub(crate) fn decode_spec(name: &str, v: &[u8]) -> Result<TopicSpec, BusError> {
    if v.len() != 13 && v.len() != 21 {
        return Err(BusError::Storage(format!("bad spec for topic {name}")));
    }
    let max_bytes = v
        .get(13..21)
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
        .filter(|b| *b > 0);
    let partitions = u32::from_be_bytes(v[..4].try_into().expect("4 bytes"));
    let compacted = v[4] == 1;
    let retention_ms = u64::from_be_bytes(v[5..13].try_into().expect("8 bytes"));
    Ok(TopicSpec {
        name: name.to_string(),
        partitions,
        compacted,
        retention: (retention_ms > 0).then(|| Duration::from_millis(retention_ms)),
        max_bytes,
    })
}
