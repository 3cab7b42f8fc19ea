//! Paper venue (being written).
