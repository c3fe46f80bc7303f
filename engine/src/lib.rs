//! taskwheel
pub mod wheel;
