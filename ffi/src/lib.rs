//! C ABI for taskwheel (built out in its own issue).
