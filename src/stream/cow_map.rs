//! Keyed operator state that snapshots in O(keys) pointer copies instead
//! of copying every value — Flink's copy-on-write heap state.
//!
//! Each value sits behind an [`Arc`]. A snapshot (a `clone` of the map)
//! shares every value with the live state; the checkpoint writer encodes
//! the snapshot on its own thread while the stage goes on. A value the
//! stage changes while a snapshot still holds it is copied first
//! ([`Arc::make_mut`]), so the snapshot keeps the state of the barrier.
//! Once the snapshot is written and dropped, values are unshared again and
//! updates cost no copy.

use crate::stream::fast_map::FastMap;
use foldhash::fast::FixedState;
use hashbrown::hash_map::RawEntryMut;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;

type Inner<K, V> = hashbrown::HashMap<K, Arc<V>, FixedState>;

/// A hash map (fixed-seed, like [`FastMap`]) with copy-on-write values.
#[derive(Debug)]
pub struct CowMap<K, V> {
    map: Inner<K, V>,
}

impl<K: Clone, V> Clone for CowMap<K, V> {
    /// Shares every value: the cost is one reference count per entry.
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
        }
    }
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        Self {
            map: Inner::default(),
        }
    }
}

impl<K: Eq + Hash, V: Clone> CowMap<K, V> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.map.get(key).map(|v| &**v)
    }

    pub fn contains_key<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.map.contains_key(key)
    }

    /// The value for writing: copied first if a snapshot shares it.
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.map.get_mut(key).map(Arc::make_mut)
    }

    /// The value of `key` for writing, inserted with `make` when absent.
    /// Takes the key by reference: it is cloned only when inserted.
    pub fn get_or_insert_with(&mut self, key: &K, make: impl FnOnce() -> V) -> &mut V
    where
        K: Clone,
    {
        // One lookup either way (the std map would need two, or a key
        // clone per call).
        let value = match self.map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(e) => e.into_mut(),
            RawEntryMut::Vacant(e) => e.insert(key.clone(), Arc::new(make())).1,
        };
        Arc::make_mut(value)
    }

    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.map
            .insert(key, Arc::new(value))
            .map(Arc::unwrap_or_clone)
    }

    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.map.remove(key).map(Arc::unwrap_or_clone)
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values().map(|v| &**v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter().map(|(k, v)| (k, &**v))
    }

    /// Every entry for writing (shared values are copied first).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.map.iter_mut().map(|(k, v)| (k, Arc::make_mut(v)))
    }
}

impl<K: Serialize, V: Serialize> Serialize for CowMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.map.iter().map(|(k, v)| (k, &**v)))
    }
}

impl<'de, K, V> Deserialize<'de> for CowMap<K, V>
where
    K: Deserialize<'de> + Eq + Hash,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = FastMap::<K, Arc<V>>::deserialize(d)?;
        Ok(Self {
            map: map.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_keeps_the_values_of_when_it_was_taken() {
        let mut live: CowMap<String, Vec<u32>> = CowMap::default();
        live.insert("a".into(), vec![1]);
        live.insert("b".into(), vec![2]);
        let snapshot = live.clone();
        live.get_mut("a").unwrap().push(10);
        live.get_or_insert_with(&"c".to_string(), || vec![3]);
        live.remove("b");
        assert_eq!(snapshot.get("a"), Some(&vec![1]));
        assert_eq!(snapshot.get("b"), Some(&vec![2]));
        assert!(!snapshot.contains_key("c"));
        assert_eq!(live.get("a"), Some(&vec![1, 10]));
        assert_eq!(live.len(), 2);
    }

    #[test]
    fn unshared_values_are_updated_in_place() {
        let mut live: CowMap<u8, u32> = CowMap::default();
        live.insert(1, 1);
        let at = |m: &CowMap<u8, u32>| m.get(&1).unwrap() as *const u32;
        let before = at(&live);
        *live.get_mut(&1).unwrap() += 1;
        assert_eq!(at(&live), before, "no copy while unshared");
        let snapshot = live.clone();
        *live.get_mut(&1).unwrap() += 1;
        let copied = at(&live);
        assert_ne!(copied, before, "copied while the snapshot holds it");
        drop(snapshot);
        *live.get_mut(&1).unwrap() += 1;
        assert_eq!((at(&live), *live.get(&1).unwrap()), (copied, 4));
    }

    #[test]
    fn encodes_as_a_plain_map() {
        let mut live: CowMap<String, u64> = CowMap::default();
        live.insert("x".into(), 7);
        let bytes = postcard::to_stdvec(&live).unwrap();
        let plain: std::collections::BTreeMap<String, u64> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(plain["x"], 7);
        let back: CowMap<String, u64> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.get("x"), Some(&7));
    }
}
