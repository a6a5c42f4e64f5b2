//! The stress oracle (being written).
