//! Stage 1, what users hold: the [`Engine`](crate::Engine) and its [`Spawner`](crate::Spawner), the settings an
//! engine is built with, the task builders, and the handles a submission gives back. Everything here calls into
//! the stages below; nothing below imports from here.

pub(crate) mod engine;
pub(crate) mod handle;
pub(crate) mod join;
pub(crate) mod spawner;
pub(crate) mod task_builder;
