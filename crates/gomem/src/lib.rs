//! gomem: Go's memory manager as a Rust library.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod alloc;
