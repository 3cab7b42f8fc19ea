//! Unit tests of the synchronous engine core: no runtime, no sockets, time passed in.
