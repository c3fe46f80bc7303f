//! Concurrency groups: at most `limit` tasks of a group run at once; the rest wait here, holding no worker.

use std::collections::{HashMap, VecDeque};

use crate::observe::stats::GroupStats;
use crate::sync::Mutex;
use crate::task::cell::TaskRef;

struct Group {
    limit: usize,
    slots: Mutex<Slots>,
}

struct Slots {
    running: usize,
    /// Parked tasks, with the schedule epoch each was dispatched under.
    waiting: VecDeque<(TaskRef, u32)>,
    /// A paused group starts none of its tasks: they wait in `waiting`.
    paused: bool,
}

/// The engine's concurrency groups, fixed when it is built.
pub(crate) struct Groups {
    groups: Box<[Group]>,
    /// Each group's index in `groups`, by name.
    by_name: HashMap<Box<str>, usize>,
}

impl Groups {
    pub(crate) fn new(groups: &[(String, usize)]) -> Groups {
        Groups {
            groups: groups
                .iter()
                .map(|(_, limit)| Group {
                    limit: *limit,
                    slots: Mutex::new(Slots { running: 0, waiting: VecDeque::new(), paused: false }),
                })
                .collect(),
            by_name: groups.iter().enumerate().map(|(index, (name, _))| (name.as_str().into(), index)).collect(),
        }
    }

    /// The index of the group called `name`.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Takes a slot of `group` for `task`, or parks the task (dispatched under `epoch`) in the group's queue and
    /// returns `false`.
    pub(crate) fn acquire(&self, group: usize, task: &TaskRef, epoch: u32) -> bool {
        let group = &self.groups[group];
        let mut slots = group.slots.lock();
        if slots.running < group.limit && !slots.paused {
            slots.running += 1;
            true
        } else {
            slots.waiting.push_back((task.clone(), epoch));
            false
        }
    }

    /// Gives a slot back. When a task waits, the slot passes to it and it is returned with its epoch, to be queued
    /// for a worker.
    pub(crate) fn release(&self, group: usize) -> Option<(TaskRef, u32)> {
        let mut slots = self.groups[group].slots.lock();
        let next = if slots.paused { None } else { slots.waiting.pop_front() };
        if next.is_none() {
            slots.running -= 1;
        }
        next
    }

    /// Pauses `group`: its tasks wait for a slot until it is resumed (runs in progress go on).
    pub(crate) fn pause(&self, group: usize) {
        self.groups[group].slots.lock().paused = true;
    }

    /// Resumes `group`: returns the waiting tasks that now take a slot (up to its limit), each with its epoch, to
    /// be queued for a worker.
    pub(crate) fn resume(&self, group: usize) -> Vec<(TaskRef, u32)> {
        let group = &self.groups[group];
        let mut slots = group.slots.lock();
        slots.paused = false;
        let mut started = Vec::new();
        while slots.running < group.limit {
            let Some(next) = slots.waiting.pop_front() else { break };
            slots.running += 1;
            started.push(next);
        }
        started
    }

    /// Each group's state, named from `names` (the builder's declarations, in order).
    pub(crate) fn report(&self, names: &[(String, usize)]) -> Vec<GroupStats> {
        (0..self.groups.len()).zip(names).filter_map(|(index, (name, _))| self.report_one(index, name)).collect()
    }

    /// The state of group `index`, named `name`.
    pub(crate) fn report_one(&self, index: usize, name: &str) -> Option<GroupStats> {
        let group = self.groups.get(index)?;
        let slots = group.slots.lock();
        Some(GroupStats {
            name: name.to_string(),
            limit: group.limit as u64,
            running: slots.running as u64,
            waiting: slots.waiting.len() as u64,
            paused: slots.paused,
        })
    }

    /// How many tasks of `group` hold a slot now.
    #[cfg(test)]
    pub(crate) fn running(&self, group: usize) -> usize {
        self.groups[group].slots.lock().running
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::cell::Task;

    fn task(id: u64) -> TaskRef {
        Task::for_test(id, Some(0))
    }

    #[test]
    fn slots_pass_to_waiting_tasks_in_arrival_order_and_never_exceed_the_limit() {
        let groups = Groups::new(&[("email".to_string(), 2)]);
        assert!(groups.acquire(0, &task(1), 0));
        assert!(groups.acquire(0, &task(2), 0));
        assert!(!groups.acquire(0, &task(3), 0));
        assert!(!groups.acquire(0, &task(4), 0));
        assert_eq!(groups.running(0), 2);
        assert_eq!(groups.release(0).map(|(t, _)| t.id), Some(3));
        assert_eq!(groups.running(0), 2, "the slot passed to task 3");
        assert_eq!(groups.release(0).map(|(t, _)| t.id), Some(4));
        assert!(groups.release(0).is_none());
        assert!(groups.release(0).is_none());
        assert_eq!(groups.running(0), 0);
        assert_eq!(groups.find("email"), Some(0));
        assert_eq!(groups.find("sms"), None);
    }
}
