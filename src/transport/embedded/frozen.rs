//! Records a consumer has already read, kept compressed until a checkpoint
//! releases them.
//!
//! The embedded transport stands in for a broker, which keeps its log on
//! disk: a record stays readable until the stream's checkpoint covers it, so
//! a restarted stream task can read it again. Held as read, those records
//! were most of a fast stream's memory: every record of the last checkpoint
//! interval and of the checkpoint's own write, about 500 bytes each (a
//! 100 000-device fleet at 200 k readings/s held 2–3 M of them). They are
//! read again only after a failure, so once read they are packed into
//! blocks compressed with lz4; JSON readings of one partition shrink to a
//! fraction, and reading a block again costs one decompression.

use super::Stored;
use crate::transport::{ConsumedRecord, Headers, TopicPartition, TransportError};
use bytes::{Buf, Bytes};
use std::sync::Arc;

/// Records read per frozen block: large enough for lz4 to find the
/// repetition of JSON between records, small enough that compressing one
/// holds the partition's lock only briefly.
pub(super) const BLOCK_RECORDS: usize = 1024;

/// Consecutive records of one partition, compressed.
pub(super) struct FrozenBlock {
    /// Offset of the first record.
    first: i64,
    count: usize,
    /// lz4 (size-prepended) of every record's timestamp (i64), key and
    /// value (each u32 length + bytes), little-endian.
    packed: Vec<u8>,
    /// The records' headers as runs of (records, headers): the headers of
    /// records smokewatch writes are one shared value, kept once here.
    headers: Vec<(usize, Headers)>,
}

impl FrozenBlock {
    /// Packs `records`, the first of which has offset `first`.
    pub(super) fn freeze(first: i64, records: impl IntoIterator<Item = Stored>) -> Self {
        let mut raw = Vec::new();
        let mut headers: Vec<(usize, Headers)> = Vec::new();
        let mut count = 0;
        for r in records {
            raw.extend_from_slice(&r.timestamp_ms.to_le_bytes());
            for part in [&r.key, &r.value] {
                // A record over 4 GiB cannot reach a partition: the
                // transport's producers refuse far smaller ones.
                let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
                raw.extend_from_slice(&len.to_le_bytes());
                raw.extend_from_slice(&part[..len as usize]);
            }
            match headers.last_mut() {
                Some((n, h)) if Arc::ptr_eq(h, &r.headers) || **h == *r.headers => *n += 1,
                _ => headers.push((1, r.headers)),
            }
            count += 1;
        }
        let packed = lz4_flex::compress_prepend_size(&raw);
        Self {
            first,
            count,
            packed,
            headers,
        }
    }

    pub(super) fn first(&self) -> i64 {
        self.first
    }

    /// The offset after the block's last record.
    pub(super) fn end(&self) -> i64 {
        self.first + self.count as i64
    }

    /// Heap bytes the block holds (its headers are shared, not counted).
    pub(super) fn heap_bytes(&self) -> usize {
        self.packed.capacity() + self.headers.capacity() * size_of::<(usize, Headers)>()
    }

    /// Appends to `out` at most `max` records from offset `from` (within
    /// the block) on; returns how many.
    pub(super) fn thaw_into(
        &self,
        tp: TopicPartition,
        from: i64,
        max: usize,
        out: &mut Vec<ConsumedRecord>,
    ) -> Result<usize, TransportError> {
        let corrupt = |what: &str| {
            TransportError::Embedded(format!(
                "frozen block of {} partition {} at offset {} is corrupt: {what}",
                tp.topic, tp.partition, self.first
            ))
        };
        let raw = lz4_flex::decompress_size_prepended(&self.packed)
            .map_err(|e| corrupt(&e.to_string()))?;
        let raw = Bytes::from(raw);
        let mut cursor = raw.clone();
        let mut headers = self
            .headers
            .iter()
            .flat_map(|(n, h)| std::iter::repeat_n(h, *n));
        let skip = usize::try_from(from - self.first).unwrap_or(usize::MAX);
        let mut taken = 0;
        for i in 0..self.count {
            if taken == max {
                break;
            }
            let timestamp_ms = take_i64(&mut cursor).ok_or_else(|| corrupt("timestamp"))?;
            let key = take_bytes(&raw, &mut cursor).ok_or_else(|| corrupt("key"))?;
            let value = take_bytes(&raw, &mut cursor).ok_or_else(|| corrupt("value"))?;
            let headers = headers.next().ok_or_else(|| corrupt("headers"))?;
            if i < skip {
                continue;
            }
            out.push(ConsumedRecord {
                topic: tp.topic,
                partition: tp.partition,
                offset: self.first + i as i64,
                key: Some(key),
                value,
                headers: headers.clone(),
                timestamp_ms,
            });
            taken += 1;
        }
        Ok(taken)
    }
}

fn take_i64(cursor: &mut Bytes) -> Option<i64> {
    (cursor.remaining() >= 8).then(|| cursor.get_i64_le())
}

/// The next length-prefixed field, as a slice of `raw` (no copy).
fn take_bytes(raw: &Bytes, cursor: &mut Bytes) -> Option<Bytes> {
    if cursor.remaining() < 4 {
        return None;
    }
    let len = cursor.get_u32_le() as usize;
    if cursor.remaining() < len {
        return None;
    }
    let start = raw.len() - cursor.remaining();
    cursor.advance(len);
    Some(raw.slice(start..start + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TopicKind;

    fn stored(n: i64, headers: &Headers) -> Stored {
        Stored {
            key: Bytes::from(format!("dev-{}", n % 5)),
            value: Bytes::from(format!("{{\"seq\":{n},\"pm2_5\":{}}}", n * 3)),
            headers: headers.clone(),
            timestamp_ms: 1_700_000_000_000 + n,
        }
    }

    const TP: TopicPartition = TopicPartition {
        topic: TopicKind::Readings,
        partition: 2,
    };

    #[test]
    fn thawed_records_equal_the_frozen_ones_from_any_offset() {
        let json = crate::transport::record::json_headers();
        let other: Headers = Arc::from(vec![("x".to_string(), Bytes::from_static(b"y"))]);
        let records: Vec<Stored> = (0..300)
            .map(|n| {
                stored(
                    n,
                    if (100..110).contains(&n) {
                        &other
                    } else {
                        &json
                    },
                )
            })
            .collect();
        let expected: Vec<(i64, Bytes, Bytes, Headers, i64)> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    40 + i as i64,
                    r.key.clone(),
                    r.value.clone(),
                    r.headers.clone(),
                    r.timestamp_ms,
                )
            })
            .collect();
        let block = FrozenBlock::freeze(40, records);
        assert_eq!((block.first(), block.end()), (40, 340));
        assert_eq!(block.headers.len(), 3, "headers kept as runs");
        for (from, max) in [(40, 1000), (41, 5), (145, 100), (339, 10)] {
            let mut out = Vec::new();
            let n = block.thaw_into(TP, from, max, &mut out).unwrap();
            assert_eq!(n, out.len());
            let start = (from - 40) as usize;
            let want = &expected[start..(start + max).min(expected.len())];
            let got: Vec<_> = out
                .into_iter()
                .map(|r| {
                    assert_eq!((r.topic, r.partition), (TP.topic, TP.partition));
                    (r.offset, r.key.unwrap(), r.value, r.headers, r.timestamp_ms)
                })
                .collect();
            assert_eq!(got, want, "from {from}, at most {max}");
        }
    }

    #[test]
    fn repetitive_json_packs_into_a_fraction_of_its_size() {
        let json = crate::transport::record::json_headers();
        let records: Vec<Stored> = (0..BLOCK_RECORDS as i64)
            .map(|n| stored(n, &json))
            .collect();
        let raw: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
        let block = FrozenBlock::freeze(0, records);
        assert!(
            block.heap_bytes() * 2 < raw,
            "{} bytes packed of {raw}",
            block.heap_bytes()
        );
    }

    #[test]
    fn a_damaged_block_is_an_error_naming_it() {
        let json = crate::transport::record::json_headers();
        let mut block = FrozenBlock::freeze(7, (0..10).map(|n| stored(n, &json)));
        block.packed.truncate(block.packed.len() / 2);
        let err = block.thaw_into(TP, 7, 10, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("offset 7"), "{err}");
    }
}
