//! Shared helpers for taskwheel benchmarks.
