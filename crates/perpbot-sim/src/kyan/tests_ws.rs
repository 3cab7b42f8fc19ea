//! Exchange-core tests (no I/O).
