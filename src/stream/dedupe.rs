//! Drops duplicate records (same sender, same sequence number) in bounded
//! memory: per sender, a ring of bits over the last `window` sequence
//! numbers, the way IPsec and DTLS detect replays.

use crate::schema::DeviceId;
use crate::stream::cow_map::CowMap;
use serde::{Deserialize, Serialize};

/// Verdict on one sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Seen before.
    Duplicate,
    /// Further back than the window remembers: treated as a duplicate,
    /// since a record that old is a replay or hopelessly late.
    TooOld,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeqWindow {
    max: u64,
    bits: Vec<u64>,
}

/// Sequence numbers seen per sender.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dedupe {
    window: u64,
    senders: CowMap<DeviceId, SeqWindow>,
}

impl Dedupe {
    /// Remembers `window` sequence numbers per sender (rounded up to 64).
    pub fn new(window: u32) -> Self {
        Self {
            window: u64::from(window.max(1)).div_ceil(64) * 64,
            senders: CowMap::default(),
        }
    }

    /// The state a checkpoint keeps (see
    /// [`CowMap::checkpoint_snapshot`]).
    pub fn checkpoint_snapshot(&mut self) -> Self {
        Self {
            window: self.window,
            senders: self.senders.checkpoint_snapshot(),
        }
    }

    pub fn senders(&self) -> usize {
        self.senders.len()
    }

    /// Records `seq` for `sender` and says whether it is new.
    pub fn check(&mut self, sender: &DeviceId, seq: u64) -> Seen {
        let window = self.window;
        let words = (window / 64) as usize;
        let Some(w) = self.senders.get_mut(sender) else {
            let mut w = SeqWindow {
                max: seq,
                bits: vec![0; words],
            };
            set(&mut w.bits, seq % window);
            self.senders.insert(sender.clone(), w);
            return Seen::New;
        };
        if seq > w.max {
            if seq - w.max >= window {
                w.bits.iter_mut().for_each(|b| *b = 0);
            } else {
                for s in w.max + 1..seq {
                    clear(&mut w.bits, s % window);
                }
            }
            w.max = seq;
            set(&mut w.bits, seq % window);
            return Seen::New;
        }
        if w.max - seq >= window {
            return Seen::TooOld;
        }
        let bit = seq % window;
        if get(&w.bits, bit) {
            Seen::Duplicate
        } else {
            set(&mut w.bits, bit);
            Seen::New
        }
    }
}

fn set(bits: &mut [u64], i: u64) {
    bits[(i / 64) as usize] |= 1 << (i % 64);
}

fn clear(bits: &mut [u64], i: u64) {
    bits[(i / 64) as usize] &= !(1 << (i % 64));
}

fn get(bits: &[u64], i: u64) -> bool {
    bits[(i / 64) as usize] & (1 << (i % 64)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn repeats_and_too_old_are_refused() {
        let mut d = Dedupe::new(64);
        let dev: DeviceId = "d".into();
        assert_eq!(d.check(&dev, 10), Seen::New);
        assert_eq!(d.check(&dev, 10), Seen::Duplicate);
        assert_eq!(d.check(&dev, 8), Seen::New, "out of order but new");
        assert_eq!(d.check(&dev, 8), Seen::Duplicate);
        assert_eq!(d.check(&dev, 200), Seen::New);
        assert_eq!(d.check(&dev, 10), Seen::TooOld);
        assert_eq!(d.check(&"other".into(), 10), Seen::New, "per sender");
    }

    proptest! {
        #[test]
        fn within_the_window_it_agrees_with_a_set(seqs in proptest::collection::vec(0u64..300, 1..400)) {
            let mut d = Dedupe::new(1024);
            let mut seen = HashSet::new();
            let dev: DeviceId = "d".into();
            for s in seqs {
                let expected = if seen.insert(s) { Seen::New } else { Seen::Duplicate };
                prop_assert_eq!(d.check(&dev, s), expected);
            }
        }
    }
}
