//! The VM (feature `vm`): loads compiled functions into the gomem heap and
//! runs them. Written against gomem's VM API (Value, ValueSlot, ValueStack,
//! WeakSet, HeapMap), which this crate waits for before it is built.
