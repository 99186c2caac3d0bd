//! The hash map the stream's state is kept in.

/// Hash map with a fast, fixed-seed hasher: the keys are our own ids, and a
/// fixed seed keeps iteration (and so output) order the same across runs.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
