//! One window specification (tumbling or sliding) over keyed values.
//!
//! State is kept per key as *panes*: consecutive slices of length
//! gcd(size, slide). Every window is a union of whole panes, so a value
//! updates exactly one pane however many sliding windows contain it, and a
//! window's aggregate is merged from its panes when it is emitted (Flink's
//! pane optimisation). Tumbling windows are the case slide = size, one pane
//! per window.
//!
//! The operator does not own the watermark; the caller passes it in:
//! [`WindowOperator::accepts`] says whether a value at time `t` still has an
//! open window, [`WindowOperator::close`] emits every window whose end the
//! watermark has reached.
//!
//! Both emitting calls go key by key in key order and stop after a key when
//! the caller's output says it is full ([`ControlFlow::Break`]): the
//! operator keeps its place and [`WindowOperator::resume`] goes on from the
//! next key. A window boundary of 100 000 devices emits millions of rows;
//! stopping lets the caller send each message on before the next is made,
//! so they are never all in memory at once.

use super::agg::{Agg, PaneAgg};
use crate::stream::cow_map::CowMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::hash::Hash;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Whether an emitting call finished or stopped because its output was full.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Done,
    /// Stopped after a key; resume after the output has been sent on.
    Paused,
}

/// Where emitted windows go: `Break` says the output is full and the
/// operator should stop after the current key.
pub type Emit<'a, K> = &'a mut dyn FnMut(Emitted<K>) -> ControlFlow<()>;

/// Size and slide of a window, in ms. Windows start at multiples of the
/// slide (epoch-aligned), like Flink's and Spark's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    pub size_ms: i64,
    pub slide_ms: i64,
}

impl WindowSpec {
    pub fn tumbling(size_ms: i64) -> Self {
        Self::sliding(size_ms, size_ms)
    }

    pub fn sliding(size_ms: i64, slide_ms: i64) -> Self {
        Self {
            size_ms: size_ms.max(1),
            slide_ms: slide_ms.max(1),
        }
    }

    pub fn pane_ms(&self) -> i64 {
        gcd(self.size_ms, self.slide_ms)
    }

    /// End of the latest window containing `t`.
    pub fn latest_end(&self, t: i64) -> i64 {
        t.div_euclid(self.slide_ms) * self.slide_ms + self.size_ms
    }

    /// Starts of every window containing `t`, newest first.
    pub fn starts_containing(&self, t: i64) -> impl Iterator<Item = i64> + use<> {
        let newest = t.div_euclid(self.slide_ms) * self.slide_ms;
        let (size, slide) = (self.size_ms, self.slide_ms);
        (0..)
            .map(move |k| newest - k * slide)
            .take_while(move |s| *s > t - size)
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs().max(1)
    } else {
        gcd(b, a % b)
    }
}

/// One emitted window of one key: an aggregate per measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted<K> {
    pub key: K,
    pub start: i64,
    pub end: i64,
    /// Index of the measure and its aggregate (measures without values are left out).
    pub aggs: Vec<(usize, Agg)>,
    pub is_final: bool,
}

/// One pane: an aggregate per measure.
///
/// The aggregates sit behind an [`Arc`] (one allocation, like a `Vec`) so
/// that a checkpoint's snapshot shares every pane a later value does not
/// land in. A key's state is copied on write while a snapshot holds it
/// ([`CowMap`]); with shared panes the copy is the list of panes plus the
/// one pane the value changes, not every pane of a five-minute sliding
/// window. They are held compact ([`PaneAgg`]) and stored in checkpoints as
/// the sequence of [`Agg`]s they always were, so checkpoints are unchanged.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StoredPane")]
struct Pane {
    start: i64,
    aggs: Arc<[PaneAgg]>,
}

impl Pane {
    fn new(start: i64, measures: usize) -> Self {
        Self {
            start,
            // One allocation: collecting an iterator of known length into
            // an `Arc<[_]>` writes it in place (a `Vec` first would be
            // allocated and then copied).
            aggs: std::iter::repeat_n(PaneAgg::default(), measures).collect(),
        }
    }
}

/// A pane as checkpoints store it.
#[derive(Deserialize)]
struct StoredPane {
    start: i64,
    aggs: Vec<Agg>,
}

impl TryFrom<StoredPane> for Pane {
    type Error = String;

    fn try_from(stored: StoredPane) -> Result<Self, String> {
        let start = stored.start;
        let aggs = stored
            .aggs
            .iter()
            .map(|a| PaneAgg::from_agg(a, start))
            .collect::<Option<Arc<[PaneAgg]>>>()
            .ok_or_else(|| {
                format!("a window pane starting at {start} holds an aggregate it cannot hold")
            })?;
        Ok(Self { start, aggs })
    }
}

impl Serialize for Pane {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// The aggregates, expanded as they are written (no copy of them).
        struct Aggs<'a>(&'a Pane);
        impl Serialize for Aggs<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let start = self.0.start;
                s.collect_seq(self.0.aggs.iter().map(|a| a.to_agg(start)))
            }
        }
        let mut pane = s.serialize_struct("Pane", 2)?;
        pane.serialize_field("start", &self.start)?;
        pane.serialize_field("aggs", &Aggs(self))?;
        pane.end()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeyState {
    /// Panes in ascending start order.
    panes: VecDeque<Pane>,
    /// Pane starts updated since the last trigger (update mode).
    dirty: Vec<i64>,
}

/// Keyed pane state of one window spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + DeserializeOwned",
    deserialize = "K: Deserialize<'de>"
))]
pub struct WindowOperator<K: Eq + Hash> {
    spec: WindowSpec,
    measures: usize,
    keys: CowMap<K, KeyState>,
    /// Keys with dirty panes, each once.
    dirty_keys: Vec<K>,
    /// Every window ending at or before this has been emitted as final
    /// (set when a close starts).
    closed_upto: i64,
    /// Where a close or trigger stopped on a full output. Never in a
    /// checkpoint: the stage finishes a paused call before it takes the
    /// next message, and barriers are messages.
    #[serde(skip, default = "Option::default")]
    paused: Option<Cursor<K>>,
}

/// A close or trigger in progress: the keys it visits, in order, and the
/// next one.
#[derive(Debug, Clone)]
struct Cursor<K> {
    keys: Vec<K>,
    next: usize,
    work: Work,
}

#[derive(Debug, Clone, Copy)]
enum Work {
    /// Emit (final) the windows ending in `(previous, watermark]`.
    Close { previous: i64, watermark: i64 },
    /// Emit the open windows that changed (update mode).
    Trigger,
}

impl<K: Eq + Hash + Clone + Ord + Serialize + DeserializeOwned> WindowOperator<K> {
    pub fn new(spec: WindowSpec, measures: usize) -> Self {
        Self {
            spec,
            measures,
            keys: CowMap::default(),
            dirty_keys: Vec::new(),
            closed_upto: i64::MIN,
            paused: None,
        }
    }

    /// The state a checkpoint keeps (see [`CowMap::checkpoint_snapshot`]).
    pub fn checkpoint_snapshot(&mut self) -> Self {
        Self {
            spec: self.spec,
            measures: self.measures,
            keys: self.keys.checkpoint_snapshot(),
            dirty_keys: self.dirty_keys.clone(),
            closed_upto: self.closed_upto,
            paused: None,
        }
    }

    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// Keys with state (open windows).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether a value at `t` still belongs to an open window under
    /// `watermark` (windows whose end is at or before it are closed).
    pub fn accepts(&self, t: i64, watermark: i64) -> bool {
        self.spec.latest_end(t) > watermark
    }

    /// Adds values (measure index, value) at time `t` to `key`'s pane. The
    /// caller has checked [`WindowOperator::accepts`].
    pub fn add(&mut self, key: &K, t: i64, values: impl IntoIterator<Item = (usize, f64)>) {
        let pane_ms = self.spec.pane_ms();
        let pane_start = t.div_euclid(pane_ms) * pane_ms;
        let state = self.keys.get_or_insert_with(key, KeyState::default);
        let pane = pane_mut(&mut state.panes, pane_start, self.measures);
        // Copied first only if a snapshot still shares this pane.
        // Below MAX_PANE_MS (the windows' configuration is checked).
        let offset = u32::try_from(t - pane_start).unwrap_or(u32::MAX);
        let aggs = Arc::make_mut(&mut pane.aggs);
        let mut any = false;
        for (measure, value) in values {
            if let Some(agg) = aggs.get_mut(measure) {
                agg.add(offset, value);
                any = true;
            }
        }
        if any {
            if state.dirty.is_empty() {
                self.dirty_keys.push(key.clone());
            }
            if !state.dirty.contains(&pane_start) {
                state.dirty.push(pane_start);
            }
        }
    }

    /// Whether a close or trigger stopped on a full output.
    pub fn is_paused(&self) -> bool {
        self.paused.is_some()
    }

    /// Update mode: every open window that changed since the last trigger,
    /// with its current aggregate (`is_final: false`), handed to `out` one
    /// at a time, key by key. A paused call is finished first.
    pub fn trigger(&mut self, out: Emit<'_, K>) -> Flow {
        if self.resume(out) == Flow::Paused {
            return Flow::Paused;
        }
        let mut keys = std::mem::take(&mut self.dirty_keys);
        if keys.is_empty() {
            return Flow::Done;
        }
        keys.sort();
        self.run(
            Cursor {
                keys,
                next: 0,
                work: Work::Trigger,
            },
            out,
        )
    }

    /// Emits (final) every window whose end is at or before `watermark`
    /// to `out`, key by key, and drops panes no open window needs. A
    /// paused call is finished first.
    pub fn close(&mut self, watermark: i64, out: Emit<'_, K>) -> Flow {
        if self.resume(out) == Flow::Paused {
            return Flow::Paused;
        }
        if watermark <= self.closed_upto {
            return Flow::Done;
        }
        let previous = self.closed_upto;
        self.closed_upto = watermark;
        if next_window_end(&self.spec, previous) > watermark {
            return Flow::Done;
        }
        let mut keys: Vec<K> = self.keys.keys().cloned().collect();
        keys.sort();
        self.run(
            Cursor {
                keys,
                next: 0,
                work: Work::Close {
                    previous,
                    watermark,
                },
            },
            out,
        )
    }

    /// Goes on with a paused close or trigger; `Done` when there is none.
    pub fn resume(&mut self, out: Emit<'_, K>) -> Flow {
        match self.paused.take() {
            Some(cursor) => self.run(cursor, out),
            None => Flow::Done,
        }
    }

    /// Visits the cursor's keys from its next one; stops after a key whose
    /// output said it is full, keeping the cursor.
    fn run(&mut self, mut cursor: Cursor<K>, out: Emit<'_, K>) -> Flow {
        while let Some(key) = cursor.keys.get(cursor.next) {
            cursor.next += 1;
            let flow = match cursor.work {
                Work::Close {
                    previous,
                    watermark,
                } => self.close_key(key, previous, watermark, out),
                Work::Trigger => self.trigger_key(key, out),
            };
            if flow.is_break() && cursor.next < cursor.keys.len() {
                self.paused = Some(cursor);
                return Flow::Paused;
            }
        }
        if let Work::Close { .. } = cursor.work {
            let keys = &self.keys;
            self.dirty_keys
                .retain(|k| keys.get(k).is_some_and(|s| !s.dirty.is_empty()));
        }
        Flow::Done
    }

    /// One key's changed open windows.
    fn trigger_key(&mut self, key: &K, out: Emit<'_, K>) -> ControlFlow<()> {
        let mut flow = ControlFlow::Continue(());
        let Some(state) = self.keys.get_mut(key) else {
            return flow;
        };
        let dirty = std::mem::take(&mut state.dirty);
        let mut starts = BTreeSet::new();
        for pane in dirty {
            starts.extend(
                self.spec
                    .starts_containing(pane)
                    .filter(|s| s + self.spec.size_ms > self.closed_upto),
            );
        }
        for start in starts {
            if let Some(e) = emit(&self.spec, key, state, start, false) {
                flow = merge(flow, out(e));
            }
        }
        flow
    }

    /// One key's windows ending in `(previous, watermark]`, then its panes
    /// no open window needs; the key goes when it has none left.
    fn close_key(
        &mut self,
        key: &K,
        previous: i64,
        watermark: i64,
        out: Emit<'_, K>,
    ) -> ControlFlow<()> {
        let mut flow = ControlFlow::Continue(());
        let spec = self.spec;
        let Some(state) = self.keys.get_mut(key) else {
            return flow;
        };
        let mut starts = BTreeSet::new();
        for pane in &state.panes {
            starts.extend(spec.starts_containing(pane.start).filter(|s| {
                let end = s + spec.size_ms;
                end > previous && end <= watermark
            }));
        }
        for start in starts {
            if let Some(e) = emit(&spec, key, state, start, true) {
                flow = merge(flow, out(e));
            }
        }
        let pane_ms = spec.pane_ms();
        state
            .panes
            .retain(|p| spec.latest_end(p.start + pane_ms - 1) > watermark);
        state
            .dirty
            .retain(|p| spec.latest_end(p + pane_ms - 1) > watermark);
        if state.panes.is_empty() {
            self.keys.remove(key);
        }
        flow
    }
}

/// `Break` once any output of a key said it is full (the key's other
/// windows are still emitted: a key is never left half done).
fn merge(a: ControlFlow<()>, b: ControlFlow<()>) -> ControlFlow<()> {
    if a.is_break() { a } else { b }
}

/// The smallest window end strictly after `after`.
fn next_window_end(spec: &WindowSpec, after: i64) -> i64 {
    if after == i64::MIN {
        return i64::MIN;
    }
    // Ends are start + size with start a multiple of slide.
    let start = (after - spec.size_ms).div_euclid(spec.slide_ms) * spec.slide_ms;
    let mut end = start + spec.size_ms;
    while end <= after {
        end += spec.slide_ms;
    }
    end
}

fn pane_mut(panes: &mut VecDeque<Pane>, start: i64, measures: usize) -> &mut Pane {
    // Values mostly land in the newest pane: search from the back.
    let position = panes.iter().rposition(|p| p.start <= start);
    let index = match position {
        Some(i) if panes[i].start == start => i,
        Some(i) => {
            panes.insert(i + 1, Pane::new(start, measures));
            i + 1
        }
        None => {
            panes.push_front(Pane::new(start, measures));
            0
        }
    };
    &mut panes[index]
}

fn emit<K: Clone>(
    spec: &WindowSpec,
    key: &K,
    state: &KeyState,
    start: i64,
    is_final: bool,
) -> Option<Emitted<K>> {
    let end = start + spec.size_ms;
    let mut merged: Vec<Agg> = Vec::new();
    for pane in state
        .panes
        .iter()
        .filter(|p| p.start >= start && p.start < end)
    {
        if merged.is_empty() {
            merged = pane.aggs.iter().map(|a| a.to_agg(pane.start)).collect();
        } else {
            for (m, a) in merged.iter_mut().zip(pane.aggs.iter()) {
                m.merge(&a.to_agg(pane.start));
            }
        }
    }
    let aggs: Vec<(usize, Agg)> = merged
        .into_iter()
        .enumerate()
        .filter(|(_, a)| a.count > 0)
        .collect();
    (!aggs.is_empty()).then(|| Emitted {
        key: key.clone(),
        start,
        end,
        aggs,
        is_final,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that is never full.
    fn collect<K>(out: &mut Vec<Emitted<K>>) -> impl FnMut(Emitted<K>) -> ControlFlow<()> + '_ {
        |e| {
            out.push(e);
            ControlFlow::Continue(())
        }
    }

    #[test]
    fn sliding_starts_cover_the_time() {
        let spec = WindowSpec::sliding(300, 100);
        let starts: Vec<i64> = spec.starts_containing(250).collect();
        assert_eq!(starts, vec![200, 100, 0]);
        assert_eq!(spec.latest_end(250), 500);
        assert_eq!(
            WindowSpec::tumbling(60)
                .starts_containing(-1)
                .collect::<Vec<_>>(),
            vec![-60]
        );
        assert_eq!(next_window_end(&spec, 250), 300);
        assert_eq!(next_window_end(&spec, 300), 400);
    }

    #[test]
    fn tumbling_window_closes_when_watermark_reaches_its_end() {
        let mut op = WindowOperator::<u8>::new(WindowSpec::tumbling(60), 1);
        op.add(&1, 10, [(0, 1.0)]);
        op.add(&1, 59, [(0, 3.0)]);
        op.add(&1, 61, [(0, 10.0)]);
        let mut out = Vec::new();
        let _ = op.close(59, &mut collect(&mut out));
        assert!(out.is_empty());
        let _ = op.close(60, &mut collect(&mut out));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].start, out[0].end, out[0].aggs[0].1.count),
            (0, 60, 2)
        );
        assert_eq!(out[0].aggs[0].1.mean(), 2.0);
        assert!(!op.accepts(59, 60) && op.accepts(60, 60));
    }

    /// Pointers of every pane of `key`, oldest first.
    fn pane_ptrs(op: &WindowOperator<u8>, key: u8) -> Vec<*const PaneAgg> {
        let state = op.keys.get(&key).expect("key has state");
        state.panes.iter().map(|p| p.aggs.as_ptr()).collect()
    }

    #[test]
    fn a_snapshot_shares_every_pane_a_new_value_does_not_land_in() {
        // Sliding 5 min / 1 min: a key holds five one-minute panes.
        let mut op = WindowOperator::<u8>::new(WindowSpec::sliding(300_000, 60_000), 12);
        for minute in 0..5 {
            op.add(&1, minute * 60_000 + 5, (0..12).map(|m| (m, 1.0)));
        }
        let snapshot = op.clone();
        let before = pane_ptrs(&op, 1);
        assert_eq!(before.len(), 5);
        // A value in the newest pane copies that pane only.
        op.add(&1, 4 * 60_000 + 9, [(3, 7.0)]);
        let after = pane_ptrs(&op, 1);
        assert_eq!(&after[..4], &before[..4], "older panes stay shared");
        assert_ne!(after[4], before[4], "the changed pane is copied");
        // The snapshot still holds the state of the moment it was taken.
        assert_eq!(pane_ptrs(&snapshot, 1), before);
        let newest = |o: &WindowOperator<u8>| o.keys.get(&1).expect("key").panes[4].aggs[3];
        assert_eq!((newest(&snapshot).count(), newest(&op).count()), (1, 2));
        // Without a snapshot nothing is copied.
        drop(snapshot);
        let unshared = pane_ptrs(&op, 1);
        op.add(&1, 4 * 60_000 + 11, [(3, 8.0)]);
        assert_eq!(pane_ptrs(&op, 1), unshared);
    }

    /// Every key's state, encoded, in key order (a map's encoding follows
    /// its hash order, which differs between equal maps built apart).
    fn canonical(op: &WindowOperator<u8>) -> (Vec<Vec<u8>>, i64, Vec<u8>) {
        let mut keys: Vec<_> = op.keys.iter().collect();
        keys.sort_by_key(|(k, _)| **k);
        let keys = keys.iter().map(|e| postcard::to_stdvec(e).unwrap());
        (keys.collect(), op.closed_upto, op.dirty_keys.clone())
    }

    #[test]
    fn a_checkpoint_snapshot_keeps_the_barrier_while_the_operator_goes_on() {
        let mut op = WindowOperator::<u8>::new(WindowSpec::sliding(300_000, 60_000), 12);
        for key in 0..50u8 {
            for minute in 0..5 {
                let value = f64::from(key);
                op.add(
                    &key,
                    minute * 60_000 + i64::from(key),
                    (0..12).map(|m| (m, value)),
                );
            }
        }
        let barrier = canonical(&op);
        let snapshot = op.checkpoint_snapshot();
        // The stage goes on: half the keys change, one is new.
        for key in (0..50u8).step_by(2) {
            op.add(&key, 4 * 60_000 + 30, [(3, 99.0)]);
        }
        op.add(&200, 10, [(0, 1.0)]);
        let restored: WindowOperator<u8> =
            postcard::from_bytes(&postcard::to_stdvec(&snapshot).unwrap()).unwrap();
        assert_eq!(canonical(&restored), barrier);
        assert_ne!(canonical(&op), barrier);
        assert_eq!(op.keys.get(&2).unwrap().panes[4].aggs[3].count(), 2);
    }

    #[test]
    fn shared_panes_encode_as_the_vectors_checkpoints_held_before() {
        // The layout of a pane before its aggregates were shared: a
        // checkpoint written by an older build must still load.
        #[derive(Serialize, Deserialize)]
        struct VecPane {
            start: i64,
            aggs: Vec<Agg>,
        }
        let mut aggs = vec![Agg::default(); 3];
        aggs[1].add(61_000, 4.5);
        let old = VecPane {
            start: 60_000,
            aggs: aggs.clone(),
        };
        let new = Pane::try_from(StoredPane {
            start: 60_000,
            aggs: aggs.clone(),
        })
        .expect("fits");
        let old_bytes = postcard::to_stdvec(&old).expect("encode");
        assert_eq!(postcard::to_stdvec(&new).expect("encode"), old_bytes);
        // Read back (compared as bytes: an empty aggregate's last is NaN).
        let back: Pane = postcard::from_bytes(&old_bytes).expect("decode");
        assert_eq!((back.start, back.aggs.len()), (60_000, 3));
        assert_eq!(postcard::to_stdvec(&back).expect("encode"), old_bytes);
    }
}
