//! Arbitrary insert / cancel (valid, stale and random keys) / reschedule / advance (huge jumps included) on a
//! `Wheel<u32>`, checked after every step against the reference model of the proptest suite.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use taskwheel::wheel::{TimerKey, Wheel, WheelError};

#[path = "../../engine/tests/reference/mod.rs"]
#[allow(dead_code)]
mod reference;
use reference::Reference;

#[derive(Arbitrary, Debug)]
enum Op {
    Insert { offset: u64, shift: u8, past: bool },
    Cancel(u16),
    CancelRaw(u64),
    Reschedule { pick: u16, offset: u64, shift: u8 },
    Advance { by: u64, shift: u8 },
    ToNext,
    Back(u16),
}

fn deadline(now: u64, offset: u64, shift: u8, past: bool) -> u64 {
    let offset = offset >> (shift % 64);
    if past { now.saturating_sub(offset) } else { now.saturating_add(offset) }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut wheel: Wheel<u32> = Wheel::new();
    let mut reference = Reference::default();
    let mut keys: Vec<(TimerKey, u32)> = Vec::new();
    let mut ended = std::collections::HashSet::new();
    for op in ops.into_iter().take(512) {
        match op {
            Op::Insert { offset, shift, past } => {
                let id = keys.len() as u32;
                let at = deadline(reference.now, offset, shift, past);
                keys.push((wheel.insert(at, id), id));
                reference.insert(id, at);
            }
            Op::Cancel(pick) if !keys.is_empty() => {
                let (key, id) = keys[pick as usize % keys.len()];
                let live = reference.remove(id);
                assert_eq!(wheel.cancel(key), live.then_some(id));
                if live {
                    assert!(ended.insert(id));
                }
            }
            Op::CancelRaw(raw) => {
                // A random key: refused unless it happens to be a live key, which it then must cancel correctly.
                if let Some(key) = TimerKey::from_u64(raw) {
                    if let Some(&(_, id)) = keys.iter().find(|(k, _)| *k == key) {
                        let live = reference.remove(id);
                        assert_eq!(wheel.cancel(key), live.then_some(id));
                        if live {
                            assert!(ended.insert(id));
                        }
                    } else {
                        assert_eq!(wheel.cancel(key), None);
                    }
                }
            }
            Op::Reschedule { pick, offset, shift } if !keys.is_empty() => {
                let (key, id) = keys[pick as usize % keys.len()];
                let at = deadline(reference.now, offset, shift, false);
                let live = reference.remove(id);
                if live {
                    reference.insert(id, at);
                }
                assert_eq!(wheel.reschedule(key, at), if live { Ok(()) } else { Err(WheelError::StaleKey) });
            }
            Op::Cancel(_) | Op::Reschedule { .. } => {}
            Op::Back(by) if by > 0 && reference.now > 0 => {
                let target = reference.now.saturating_sub(u64::from(by));
                assert!(matches!(wheel.advance(target), Err(WheelError::TimeWentBackwards { .. })));
            }
            Op::Back(_) => {}
            Op::Advance { .. } | Op::ToNext => {
                let now = match op {
                    Op::Advance { by, shift } => reference.now.saturating_add(by >> (shift % 64)),
                    _ => reference.next().unwrap_or(0).max(reference.now),
                };
                let expected = reference.advance(now);
                wheel.advance(now).expect("time moves forward");
                let got: Vec<(u64, u32)> =
                    std::iter::from_fn(|| wheel.pop_expired()).map(|e| (e.deadline, e.value)).collect();
                assert_eq!(got, expected);
                for (_, id) in got {
                    assert!(ended.insert(id), "timer {id} ended twice");
                }
            }
        }
        assert_eq!(wheel.next_expiration(), reference.next());
        assert_eq!(wheel.len(), reference.by_id.len());
    }
});
