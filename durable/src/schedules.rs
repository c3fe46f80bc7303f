//! Schedules: the occurrences due within the horizon created, once across the fleet, under the misfire policy.

use std::collections::HashMap;

use crate::conn::Conn;
use crate::error::Error;
use crate::protocol::schedules::{Step, materialize as step_script, schedules};
use crate::shared::NodeShared;
use crate::spec::{Recurrence, decode_misfire, duration_micros, plan};

/// Creates the occurrences, due within the horizon, of the schedules whose handler this node runs.
pub(crate) fn materialize(
    shared: &NodeShared,
    conn: &mut Conn,
    recurrences: &mut HashMap<(String, String, String), Recurrence>,
) -> Result<(), Error> {
    let base = &shared.base;
    let horizon = duration_micros("the horizon", shared.config.horizon)?;
    let signal_us = duration_micros("the signal horizon", shared.options.signal_horizon)?;
    for record in schedules(conn, base)? {
        if !shared.handlers.contains_key(&record.handler) {
            continue;
        }
        let key = (record.kind.clone(), record.expr.clone(), record.zone.clone());
        let recurrence = match recurrences.get(&key) {
            Some(recurrence) => recurrence.clone(),
            None => {
                let recurrence = Recurrence::decode(&record.kind, &record.expr, &record.zone)?;
                recurrences.insert(key, recurrence.clone());
                recurrence
            }
        };
        let misfire = decode_misfire(&record.misfire);
        let Some(mut next) = record.next else { continue };
        'moves: for _ in 0..64 {
            let now = shared.server_now_us();
            if next > now + horizon {
                break;
            }
            for step in plan(&recurrence, misfire, record.grace_us, next, now)? {
                let moved = step_script(
                    conn,
                    base,
                    &Step {
                        schedule: &record.name,
                        expected: step.expected,
                        then: step.then,
                        signal_us,
                        create: step.create,
                        missed: step.missed,
                    },
                )?;
                if !moved {
                    break 'moves; // another node moved it first
                }
                if step.create.is_some() {
                    NodeShared::count(&shared.counters.occurrences, 1);
                }
                match step.then {
                    Some(then) => next = then,
                    None => break 'moves,
                }
            }
        }
    }
    Ok(())
}
