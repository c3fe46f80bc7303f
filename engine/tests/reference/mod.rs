//! The trivially correct reference the wheel is checked against, shared by the proptest suite
//! (`engine/tests/wheel_model.rs`) and the `wheel_ops` fuzz target.

use std::collections::{BTreeMap, HashMap};

/// The reference: pending timers by `(deadline, insertion sequence)`.
#[derive(Default)]
pub(crate) struct Reference {
    order: BTreeMap<(u64, u64), u32>,
    pub(crate) by_id: HashMap<u32, (u64, u64)>,
    seq: u64,
    pub(crate) now: u64,
}

impl Reference {
    pub(crate) fn insert(&mut self, id: u32, deadline: u64) {
        self.seq += 1;
        self.order.insert((deadline, self.seq), id);
        self.by_id.insert(id, (deadline, self.seq));
    }

    pub(crate) fn remove(&mut self, id: u32) -> bool {
        match self.by_id.remove(&id) {
            Some(at) => self.order.remove(&at).is_some(),
            None => false,
        }
    }

    pub(crate) fn advance(&mut self, now: u64) -> Vec<(u64, u32)> {
        self.now = now;
        let mut fired = Vec::new();
        while let Some(entry) = self.order.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((deadline, _), id) = entry.remove_entry();
            self.by_id.remove(&id);
            fired.push((deadline, id));
        }
        fired
    }

    pub(crate) fn next(&self) -> Option<u64> {
        self.order.keys().next().map(|&(deadline, _)| deadline)
    }
}
