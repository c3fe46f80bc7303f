//! Model-based test of `Wheel`: random operations run against the wheel and a trivially correct reference
//! (a `BTreeMap` ordered by deadline, then insertion), compared after every step.
//!
//! Cases: 1,000 by default; set `PROPTEST_CASES` for more.

use std::collections::HashMap;

use proptest::prelude::*;
use taskwheel::wheel::{TimerKey, Wheel, WheelError};

#[path = "reference/mod.rs"]
mod reference;
use reference::Reference;

/// How far from the wheel's time a deadline lands.
#[derive(Debug, Clone)]
enum When {
    /// Within a few slots of now.
    Near(u64),
    /// Just around a level boundary, seen from now.
    Boundary { level: u32, offset: i8 },
    /// Anywhere in the wheel's span.
    Anywhere(u64),
    /// Beyond `2^36` ticks (the levels above the sixth; once the overflow list).
    Beyond(u64),
    /// Already in the past.
    Past(u64),
    /// The very last tick.
    Max,
}

#[derive(Debug, Clone)]
enum Op {
    Insert(When),
    /// Cancel the key at this position among all keys ever issued (live or stale).
    Cancel(usize),
    Reschedule(usize, When),
    /// Advance by a small step.
    Step(u64),
    /// Advance to exactly the reference's next deadline (or a little past it).
    ToNext(u64),
    /// Jump far ahead, possibly past the wheel's span.
    Jump(u8),
    /// Try to go back in time (must be refused).
    Back(u64),
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        4 => (0u64..200).prop_map(When::Near),
        3 => (1u32..=6, -2i8..=2).prop_map(|(level, offset)| When::Boundary { level, offset }),
        2 => (0u64..(1 << 36)).prop_map(When::Anywhere),
        1 => ((1u64 << 36)..(1 << 44)).prop_map(When::Beyond),
        1 => (0u64..5_000).prop_map(When::Past),
        1 => Just(When::Max),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => when().prop_map(Op::Insert),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => (any::<usize>(), when()).prop_map(|(k, w)| Op::Reschedule(k, w)),
        3 => (0u64..300).prop_map(Op::Step),
        2 => (0u64..3).prop_map(Op::ToNext),
        1 => (6u8..=50).prop_map(Op::Jump),
        1 => (1u64..10).prop_map(Op::Back),
    ]
}

fn resolve(when: &When, now: u64) -> u64 {
    match *when {
        When::Near(d) => now.saturating_add(d),
        When::Boundary { level, offset } => {
            let boundary = 1u64 << (6 * level);
            let aligned = (now & !(boundary - 1)).saturating_add(boundary);
            aligned.saturating_add_signed(i64::from(offset))
        }
        When::Anywhere(d) | When::Beyond(d) => now.saturating_add(d),
        When::Past(d) => now.saturating_sub(d),
        When::Max => u64::MAX,
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut wheel: Wheel<u32> = Wheel::new();
    let mut reference = Reference::default();
    let mut keys: Vec<(TimerKey, u32)> = Vec::new();
    let mut outcomes: HashMap<u32, &'static str> = HashMap::new();

    for op in ops {
        match op {
            Op::Insert(when) => {
                let id = keys.len() as u32;
                let deadline = resolve(&when, reference.now);
                keys.push((wheel.insert(deadline, id), id));
                reference.insert(id, deadline);
            }
            Op::Cancel(pick) if !keys.is_empty() => {
                let (key, id) = keys[pick % keys.len()];
                let live = reference.remove(id);
                let got = wheel.cancel(key);
                prop_assert_eq!(got, live.then_some(id), "cancel of {}", id);
                if live {
                    prop_assert!(outcomes.insert(id, "cancelled").is_none());
                }
            }
            Op::Reschedule(pick, when) if !keys.is_empty() => {
                let (key, id) = keys[pick % keys.len()];
                let deadline = resolve(&when, reference.now);
                let live = reference.remove(id);
                if live {
                    reference.insert(id, deadline);
                }
                let got = wheel.reschedule(key, deadline);
                prop_assert_eq!(got, if live { Ok(()) } else { Err(WheelError::StaleKey) });
            }
            Op::Cancel(_) | Op::Reschedule(..) => {}
            Op::Back(by) => {
                if reference.now > 0 {
                    let target = reference.now.saturating_sub(by);
                    let refused = matches!(wheel.advance(target), Err(WheelError::TimeWentBackwards { .. }));
                    prop_assert!(refused, "advance back to {} was not refused", target);
                }
            }
            advance => {
                let now = match advance {
                    Op::Step(by) => reference.now.saturating_add(by),
                    Op::ToNext(past) => reference.next().unwrap_or(0).max(reference.now).saturating_add(past),
                    Op::Jump(bits) => reference.now.saturating_add(1u64 << bits),
                    _ => unreachable!(),
                };
                let expected = reference.advance(now);
                let queued = wheel.advance(now).expect("time moves forward");
                let got: Vec<(u64, u32)> =
                    std::iter::from_fn(|| wheel.pop_expired()).map(|e| (e.deadline, e.value)).collect();
                prop_assert_eq!(queued, got.len());
                prop_assert_eq!(&got, &expected, "advance to {}", now);
                for (_, id) in got {
                    prop_assert!(outcomes.insert(id, "fired").is_none(), "timer {} ended twice", id);
                }
            }
        }
        // The cheap bound first (the exact answer below fills the cache it would read): never later than the next
        // expiration, or than the wheel's time for a timer already due.
        let bound = wheel.next_expiration_bound();
        prop_assert_eq!(bound.is_some(), reference.next().is_some());
        if let (Some(bound), Some(next)) = (bound, reference.next()) {
            prop_assert!(bound <= next.max(reference.now), "bound {} after {} at {}", bound, next, reference.now);
        }
        prop_assert_eq!(wheel.next_expiration(), reference.next());
        prop_assert_eq!(wheel.len(), reference.by_id.len());
    }

    // Every timer ends exactly once: drain the rest at the end of time.
    let expected = reference.advance(u64::MAX);
    wheel.advance(u64::MAX).expect("time moves forward");
    let got: Vec<(u64, u32)> = std::iter::from_fn(|| wheel.pop_expired()).map(|e| (e.deadline, e.value)).collect();
    prop_assert_eq!(&got, &expected);
    for (_, id) in got {
        prop_assert!(outcomes.insert(id, "fired").is_none());
    }
    prop_assert_eq!(outcomes.len(), keys.len(), "every timer fired or was cancelled");
    prop_assert!(wheel.is_empty());
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn wheel_matches_the_reference_after_every_step(ops in proptest::collection::vec(op(), 1..250)) {
        run(ops)?;
    }
}

/// Bursts of timers into a few slots, then many cancels and reschedules among them: the slots fill chunk after
/// chunk and compact themselves as stale records pile up, and the wheel must still agree with the reference.
fn dense() -> impl Strategy<Value = Vec<Op>> {
    let round = (
        1usize..160,
        0u64..4_200,
        proptest::collection::vec(any::<usize>(), 0..160),
        proptest::collection::vec((any::<usize>(), 0u64..5_000), 0..20),
        prop_oneof![(0u64..400).prop_map(Op::Step), (0u64..3).prop_map(Op::ToNext)],
    );
    proptest::collection::vec(round, 1..12).prop_map(|rounds| {
        let mut ops = Vec::new();
        for (burst, base, cancels, moves, advance) in rounds {
            ops.extend((0..burst as u64).map(|i| Op::Insert(When::Near(base + i % 5))));
            ops.extend(cancels.into_iter().map(Op::Cancel));
            ops.extend(moves.into_iter().map(|(pick, d)| Op::Reschedule(pick, When::Near(d))));
            ops.push(advance);
        }
        ops
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases() / 4))]

    #[test]
    fn dense_slots_with_many_cancels_match_the_reference(ops in dense()) {
        run(ops)?;
    }
}
