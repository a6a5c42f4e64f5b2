//! Rust peers (being written).
