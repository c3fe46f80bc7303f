//! Workspace-level integration tests for taskwheel live in `tests/tests/`.
