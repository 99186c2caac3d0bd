//! Interning of the ids readings carry: each distinct device, home and room
//! text maps to one shared id, so decoding a reading costs a hash lookup
//! instead of three string allocations, and every later stage keys its
//! state by ids that share one allocation.

use crate::stream::fast_map::FastMap;

/// Most distinct texts one interner keeps; past that it starts over (the
/// map is only a cache: forgetting an entry costs one allocation later).
const MAX_ENTRIES: usize = 1 << 20;

/// Maps text to a shared id of type `T`.
#[derive(Debug)]
pub struct Interner<T> {
    ids: FastMap<Box<str>, T>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            ids: FastMap::default(),
        }
    }
}

impl<T: Clone + for<'a> From<&'a str>> Interner<T> {
    /// The id of `text`, created on first sight.
    pub fn get(&mut self, text: &str) -> T {
        if let Some(id) = self.ids.get(text) {
            return id.clone();
        }
        if self.ids.len() >= MAX_ENTRIES {
            self.ids.clear();
        }
        let id = T::from(text);
        self.ids.insert(text.into(), id.clone());
        id
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DeviceId;

    #[test]
    fn same_text_gives_the_same_shared_id() {
        let mut ids = Interner::<DeviceId>::default();
        let a = ids.get("dev-1");
        let b = ids.get("dev-1");
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "one allocation");
        assert_eq!(ids.get("dev-2").as_str(), "dev-2");
        assert_eq!(ids.len(), 2);
    }
}
