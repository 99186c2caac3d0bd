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

use super::agg::Agg;
use crate::stream::cow_map::CowMap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, VecDeque};
use std::hash::Hash;

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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pane {
    start: i64,
    aggs: Vec<Agg>,
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
pub struct WindowOperator<K: Eq + Hash> {
    spec: WindowSpec,
    measures: usize,
    keys: CowMap<K, KeyState>,
    /// Keys with dirty panes, each once.
    dirty_keys: Vec<K>,
    /// Every window ending at or before this has been emitted as final.
    closed_upto: i64,
}

impl<K: Eq + Hash + Clone + Ord> WindowOperator<K> {
    pub fn new(spec: WindowSpec, measures: usize) -> Self {
        Self {
            spec,
            measures,
            keys: CowMap::default(),
            dirty_keys: Vec::new(),
            closed_upto: i64::MIN,
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
        let mut any = false;
        for (measure, value) in values {
            if let Some(agg) = pane.aggs.get_mut(measure) {
                agg.add(t, value);
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

    /// Update mode: every open window that changed since the last trigger,
    /// with its current aggregate (`is_final: false`), handed to `out` one
    /// at a time (a trigger of 100 000 keys never holds them all at once).
    pub fn trigger(&mut self, out: &mut dyn FnMut(Emitted<K>)) {
        let mut keys = std::mem::take(&mut self.dirty_keys);
        keys.sort();
        for key in keys {
            let Some(state) = self.keys.get_mut(&key) else {
                continue;
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
                if let Some(e) = emit(&self.spec, &key, state, start, false) {
                    out(e);
                }
            }
        }
    }

    /// Emits (final) every window whose end is at or before `watermark`
    /// to `out`, key by key, and drops panes no open window needs.
    pub fn close(&mut self, watermark: i64, out: &mut dyn FnMut(Emitted<K>)) {
        if watermark <= self.closed_upto {
            return;
        }
        let previous = self.closed_upto;
        self.closed_upto = watermark;
        let next_end = next_window_end(&self.spec, previous);
        if next_end > watermark {
            return;
        }
        let spec = self.spec;
        let mut emptied = Vec::new();
        let mut closing: Vec<(&K, &mut KeyState)> = self.keys.iter_mut().collect();
        closing.sort_by(|a, b| a.0.cmp(b.0));
        for (key, state) in closing {
            let mut starts = BTreeSet::new();
            for pane in &state.panes {
                starts.extend(spec.starts_containing(pane.start).filter(|s| {
                    let end = s + spec.size_ms;
                    end > previous && end <= watermark
                }));
            }
            for start in starts {
                if let Some(e) = emit(&spec, key, state, start, true) {
                    out(e);
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
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.keys.remove(&key);
        }
        let keys = &self.keys;
        self.dirty_keys
            .retain(|k| keys.get(k).is_some_and(|s| !s.dirty.is_empty()));
    }
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
            panes.insert(
                i + 1,
                Pane {
                    start,
                    aggs: vec![Agg::default(); measures],
                },
            );
            i + 1
        }
        None => {
            panes.push_front(Pane {
                start,
                aggs: vec![Agg::default(); measures],
            });
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
            merged = pane.aggs.clone();
        } else {
            for (m, a) in merged.iter_mut().zip(&pane.aggs) {
                m.merge(a);
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
        op.close(59, &mut |e| out.push(e));
        assert!(out.is_empty());
        op.close(60, &mut |e| out.push(e));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].start, out[0].end, out[0].aggs[0].1.count),
            (0, 60, 2)
        );
        assert_eq!(out[0].aggs[0].1.mean(), 2.0);
        assert!(!op.accepts(59, 60) && op.accepts(60, 60));
    }
}
