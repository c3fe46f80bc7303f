//! Tasks by id, and dedupe keys.
//!
//! Live tasks are always found. Finished ones are kept for a bounded number of lookups: each shard remembers its
//! most recent finished ids and forgets the oldest beyond its share of the limit. Ids are never reused, so a
//! forgotten id answers "not found", never another task's state.

use std::collections::{HashMap, VecDeque};

use crate::sync::{Arc, Mutex};
use crate::task::Task;

const SHARDS: usize = 16;

struct Shard {
    tasks: HashMap<u64, Arc<Task>>,
    finished: VecDeque<u64>,
}

/// Every live task and the most recently finished ones, by id; sharded so submitters rarely meet on a lock.
pub(crate) struct Registry {
    shards: Box<[Mutex<Shard>]>,
    retain_per_shard: usize,
}

impl Registry {
    pub(crate) fn new(retain_finished: usize) -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard { tasks: HashMap::new(), finished: VecDeque::new() }))
                .collect(),
            retain_per_shard: retain_finished.div_ceil(SHARDS),
        }
    }

    fn shard(&self, id: u64) -> &Mutex<Shard> {
        &self.shards[(id % SHARDS as u64) as usize]
    }

    pub(crate) fn insert(&self, task: Arc<Task>) {
        self.shard(task.id).lock().tasks.insert(task.id, task);
    }

    pub(crate) fn get(&self, id: u64) -> Option<Arc<Task>> {
        self.shard(id).lock().tasks.get(&id).cloned()
    }

    /// Records that task `id` finished; forgets the oldest finished task of the shard beyond the limit.
    pub(crate) fn retire(&self, id: u64) {
        let mut shard = self.shard(id).lock();
        shard.finished.push_back(id);
        while shard.finished.len() > self.retain_per_shard {
            if let Some(old) = shard.finished.pop_front() {
                shard.tasks.remove(&old);
            }
        }
    }

    /// Every task not yet terminal (for shutdown).
    pub(crate) fn live(&self) -> Vec<Arc<Task>> {
        let mut live = Vec::new();
        for shard in self.shards.iter() {
            live.extend(shard.lock().tasks.values().filter(|task| !task.state().is_terminal()).cloned());
        }
        live.sort_by_key(|task| task.id);
        live
    }
}

/// Dedupe keys held by pending or running tasks.
#[derive(Default)]
pub(crate) struct Keys {
    held: Mutex<HashMap<Box<str>, Arc<Task>>>,
}

impl Keys {
    /// Claims `key` for `task`; on a clash returns the task holding it. A holder that has already reached a
    /// terminal state is replaced: its key is being released.
    pub(crate) fn claim(&self, key: &str, task: &Arc<Task>) -> Result<(), Arc<Task>> {
        let mut held = self.held.lock();
        if let Some(holder) = held.get(key) {
            if !holder.state().is_terminal() {
                return Err(holder.clone());
            }
        }
        held.insert(key.into(), task.clone());
        Ok(())
    }

    /// Releases `key` if `task` still holds it.
    pub(crate) fn release(&self, key: &str, task: &Arc<Task>) {
        let mut held = self.held.lock();
        if held.get(key).is_some_and(|holder| Arc::ptr_eq(holder, task)) {
            held.remove(key);
        }
    }
}
