//! Edge cases of the wheel that the model-based suite might reach only by luck.

use super::level::LEVELS;
use super::*;

/// Advances to `now` and pops everything, returning `(deadline, value)` pairs in the order handed back.
fn fire<T>(wheel: &mut Wheel<T>, now: u64) -> Vec<(u64, T)> {
    wheel.advance(now).expect("time moves forward");
    std::iter::from_fn(|| wheel.pop_expired()).map(|e| (e.deadline, e.value)).collect()
}

#[test]
fn deadline_zero_fires_on_the_first_advance() {
    let mut wheel = Wheel::new();
    wheel.insert(0, 'a');
    assert_eq!(wheel.next_expiration(), Some(0));
    assert_eq!(fire(&mut wheel, 0), [(0, 'a')]);
    assert!(wheel.is_empty());
}

#[test]
fn deadline_equal_to_now_fires_on_the_next_advance_not_the_one_before() {
    let mut wheel = Wheel::new();
    assert!(fire(&mut wheel, 100).is_empty());
    wheel.insert(100, 'a');
    assert_eq!(wheel.next_expiration(), Some(100));
    assert_eq!(fire(&mut wheel, 100), [(100, 'a')]);
}

#[test]
fn past_deadlines_fire_in_deadline_order_before_future_ones() {
    let mut wheel = Wheel::starting_at(1_000);
    wheel.insert(1_001, 'f');
    wheel.insert(500, 'c');
    wheel.insert(3, 'a');
    wheel.insert(500, 'd');
    wheel.insert(1_000, 'e');
    wheel.insert(4, 'b');
    assert_eq!(wheel.next_expiration(), Some(3));
    let got: Vec<char> = fire(&mut wheel, 2_000).into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, ['a', 'b', 'c', 'd', 'e', 'f']);
}

#[test]
fn u64_max_deadline_fires_only_at_u64_max() {
    let mut wheel = Wheel::new();
    wheel.insert(u64::MAX, 'z');
    wheel.insert(u64::MAX - 1, 'y');
    assert_eq!(wheel.next_expiration(), Some(u64::MAX - 1));
    assert!(fire(&mut wheel, u64::MAX - 2).is_empty());
    assert_eq!(fire(&mut wheel, u64::MAX - 1), [(u64::MAX - 1, 'y')]);
    assert_eq!(wheel.next_expiration(), Some(u64::MAX));
    assert_eq!(fire(&mut wheel, u64::MAX), [(u64::MAX, 'z')]);
    assert!(fire(&mut wheel, u64::MAX).is_empty());
}

#[test]
fn every_level_boundary_fires_exactly_on_time() {
    for shift in (6..=36).step_by(6) {
        let boundary = 1u64 << shift;
        for deadline in [boundary - 1, boundary, boundary + 1] {
            let mut wheel = Wheel::new();
            wheel.insert(deadline, ());
            assert_eq!(wheel.next_expiration(), Some(deadline), "deadline {deadline}");
            assert!(fire(&mut wheel, deadline - 1).is_empty(), "early at {deadline}");
            assert_eq!(fire(&mut wheel, deadline).len(), 1, "late at {deadline}");
        }
    }
}

#[test]
fn level_boundaries_seen_from_a_non_aligned_time_fire_exactly() {
    for start in [1u64, 63, 4_095, 262_143, (1 << 36) - 1, (1 << 36) + 5] {
        for delta in [1u64, 62, 63, 64, 65, 4_095, 4_096, 4_097, 1 << 30, (1 << 36) - 1, 1 << 36, 1 << 37] {
            let mut wheel = Wheel::starting_at(start);
            let deadline = start + delta;
            wheel.insert(deadline, ());
            assert_eq!(wheel.next_expiration(), Some(deadline));
            // Step through the time just before, in two hops, to force cascades on the way.
            assert!(fire(&mut wheel, start + delta / 2).is_empty());
            assert!(fire(&mut wheel, deadline - 1).is_empty(), "early: start {start} delta {delta}");
            assert_eq!(fire(&mut wheel, deadline).len(), 1, "late: start {start} delta {delta}");
        }
    }
}

/// Issue 23, item 20: deadlines far beyond `2^36` ticks (timeout.c's "cfg3b" shape, and any delay past 68.7 s at
/// 1 ns ticks) cost at most one placement per level however far they are: 10,000 timers spread over `2^30` to `2^46`
/// ticks, advanced to the end in 65,536 steps, are written at most 11 times each. With six levels and an overflow
/// list re-examined whole at every `2^36`-tick block, each timer was written once per block it waited through
/// (millions of placements here, quadratic in the spread).
#[test]
fn far_deadlines_cost_at_most_one_placement_per_level_however_far() {
    let mut wheel = Wheel::new();
    let timers = 10_000u64;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..timers {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mixed = (state ^ (state >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        wheel.insert((1 << 30) + mixed % ((1 << 46) - (1 << 30)), i);
    }
    let (steps, end) = (65_536u64, 1u64 << 46);
    let mut fired = 0u64;
    for step in 1..=steps {
        let now = end / steps * step;
        wheel.advance(now).unwrap();
        while let Some(timer) = wheel.pop_expired() {
            assert!(timer.deadline <= now && timer.deadline > now - end / steps, "fired at its step");
            fired += 1;
        }
    }
    assert_eq!(fired, timers);
    assert!(
        wheel.placements <= timers * LEVELS as u64,
        "{} placements for {timers} timers: more than one per level",
        wheel.placements
    );
}

#[test]
fn timers_beyond_2_pow_36_ticks_fire_exactly() {
    let mut wheel = Wheel::new();
    let far = (1u64 << 36) * 3 + 12_345;
    wheel.insert(far, 'o');
    wheel.insert(far + 1, 'p');
    wheel.insert(100, 'a');
    assert_eq!(fire(&mut wheel, 100), [(100, 'a')]);
    assert_eq!(wheel.next_expiration(), Some(far));
    assert!(fire(&mut wheel, (1u64 << 36) * 3).is_empty());
    assert!(fire(&mut wheel, far - 1).is_empty());
    assert_eq!(fire(&mut wheel, far + 1), [(far, 'o'), (far + 1, 'p')]);
}

#[test]
fn cancelled_overflow_minimum_does_not_hide_the_next_one() {
    let mut wheel = Wheel::new();
    let a = wheel.insert(1 << 40, 'a');
    wheel.insert(1 << 41, 'b');
    assert_eq!(wheel.next_expiration(), Some(1 << 40));
    wheel.cancel(a);
    assert_eq!(wheel.next_expiration(), Some(1 << 41));
    assert!(fire(&mut wheel, (1 << 41) - 1).is_empty());
    assert_eq!(fire(&mut wheel, 1 << 41), [(1 << 41, 'b')]);
}

#[test]
fn huge_jump_over_one_timer_touches_only_that_timer() {
    let mut wheel = Wheel::new();
    wheel.insert(1 << 39, 'x');
    assert_eq!(fire(&mut wheel, 1 << 40), [(1 << 39, 'x')]);
    assert_eq!(wheel.elapsed(), 1 << 40);
}

#[test]
fn cancel_of_the_last_timer_in_a_slot_clears_its_occupancy() {
    let mut wheel = Wheel::new();
    let a = wheel.insert(5_000, 'a');
    let b = wheel.insert(5_001, 'b');
    wheel.insert(9_000, 'c');
    assert_eq!(wheel.cancel(a), Some('a'));
    assert_eq!(wheel.cancel(b), Some('b'));
    assert_eq!(wheel.next_expiration(), Some(9_000));
    assert_eq!(fire(&mut wheel, 10_000), [(9_000, 'c')]);
    assert!(wheel.occupied.iter().all(|&bits| bits == 0));
}

#[test]
fn same_deadline_ties_keep_insertion_order_across_levels() {
    let mut wheel = Wheel::new();
    let deadline = 300_000;
    wheel.insert(deadline, 0); // level 3 now
    fire(&mut wheel, 262_144); // cascades the level-3 slot; the first timer drops to level 2
    wheel.insert(deadline, 1); // level 2 directly
    fire(&mut wheel, 299_968); // cascades to level 0
    wheel.insert(deadline, 2); // level 0 directly
    let order: Vec<i32> = fire(&mut wheel, deadline).into_iter().map(|(_, v)| v).collect();
    assert_eq!(order, [0, 1, 2]);
}

#[test]
fn reinsert_from_the_expiry_loop_fires_on_the_next_advance() {
    let mut wheel = Wheel::new();
    wheel.insert(10, 0u32);
    wheel.advance(10).unwrap();
    let mut seen = Vec::new();
    while let Some(timer) = wheel.pop_expired() {
        seen.push(timer.value);
        if timer.value < 3 {
            // Due now and in the past: both wait for the next advance instead of looping forever.
            wheel.insert(10, timer.value + 1);
            wheel.insert(2, timer.value + 100);
        }
    }
    assert_eq!(seen, [0]);
    assert_eq!(fire(&mut wheel, 10), [(2, 100), (10, 1)]);
}

#[test]
fn cancel_from_the_expiry_loop_removes_a_queued_timer() {
    let mut wheel = Wheel::new();
    wheel.insert(10, 'a');
    let b = wheel.insert(10, 'b');
    wheel.advance(10).unwrap();
    assert_eq!(wheel.pop_expired().map(|e| e.value), Some('a'));
    assert_eq!(wheel.cancel(b), Some('b'));
    assert!(wheel.pop_expired().is_none());
    assert!(wheel.is_empty());
}

#[test]
fn stale_keys_never_touch_a_new_occupant() {
    let mut wheel = Wheel::new();
    let old = wheel.insert(10, 'a');
    assert_eq!(wheel.cancel(old), Some('a'));
    let new = wheel.insert(20, 'b');
    assert_eq!(old.index(), new.index(), "the arena reuses the index");
    assert_eq!(wheel.cancel(old), None);
    assert_eq!(wheel.reschedule(old, 5), Err(WheelError::StaleKey));
    assert_eq!(wheel.get(old), None);
    assert_eq!(wheel.deadline(new), Some(20));
    let fired = fire(&mut wheel, 20);
    assert_eq!(fired, [(20, 'b')]);
    assert!(!wheel.contains(new));
}

#[test]
fn the_slots_an_expiry_wave_frees_are_all_reused_and_its_keys_stay_stale() {
    // Timers leave in deadline order, which scatters their slots' return over the arena: the second fill must find
    // every one of them (the wheel holds no more memory than after the first), and no key of the first fill may
    // name a timer of the second.
    let mut wheel = Wheel::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut deadline = |base: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        base + 1 + (state >> 33) % 5_000
    };
    let first: Vec<_> = (0..10_000u32).map(|i| wheel.insert(deadline(0), i)).collect();
    let fired = fire(&mut wheel, 5_001);
    assert_eq!(fired.len(), 10_000);
    assert!(fired.windows(2).all(|pair| pair[0].0 <= pair[1].0), "handed back in deadline order");
    let held = wheel.held_bytes();
    let second: Vec<_> = (0..10_000u32).map(|i| (wheel.insert(deadline(5_001), i), i)).collect();
    assert_eq!(wheel.held_bytes(), held, "the second fill took the freed slots and chunks, nothing new");
    let mut indices: Vec<_> = second.iter().map(|(key, _)| key.index()).collect();
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(indices.len(), 10_000);
    assert!(indices.iter().all(|&index| index < 10_000), "no slot past the first fill's");
    for key in &first {
        assert_eq!(wheel.get(*key), None, "a key of the first fill is stale");
        assert_eq!(wheel.reschedule(*key, 9_000), Err(WheelError::StaleKey));
    }
    for (key, value) in &second {
        assert_eq!(wheel.get(*key), Some(value));
    }
    let fired = fire(&mut wheel, 10_002);
    assert_eq!(fired.len(), 10_000);
    assert!(fired.windows(2).all(|pair| pair[0].0 <= pair[1].0));
    assert!(wheel.is_empty());
}

#[test]
fn popped_keys_are_stale() {
    let mut wheel = Wheel::new();
    let key = wheel.insert(1, ());
    wheel.advance(1).unwrap();
    let expired = wheel.pop_expired().unwrap();
    assert_eq!(expired.key, key);
    assert_eq!(wheel.cancel(key), None);
}

#[test]
fn unknown_keys_are_refused() {
    let mut wheel: Wheel<()> = Wheel::new();
    for raw in [1u64, u64::MAX, 1 << 32, (7 << 32) | 3] {
        let key = TimerKey::from_u64(raw).unwrap();
        assert_eq!(wheel.cancel(key), None);
        assert_eq!(wheel.reschedule(key, 1), Err(WheelError::StaleKey));
    }
}

#[test]
fn time_going_backwards_is_an_error_and_changes_nothing() {
    let mut wheel = Wheel::new();
    wheel.insert(50, ());
    wheel.advance(40).unwrap();
    assert_eq!(wheel.advance(39), Err(WheelError::TimeWentBackwards { now: 39, elapsed: 40 }));
    assert_eq!(wheel.elapsed(), 40);
    assert_eq!(wheel.next_expiration(), Some(50));
}

#[test]
fn reschedule_moves_between_levels_and_the_overflow() {
    let mut wheel = Wheel::new();
    let key = wheel.insert(10, ());
    wheel.reschedule(key, 1 << 45).unwrap();
    assert_eq!(wheel.next_expiration(), Some(1 << 45));
    wheel.reschedule(key, 70_000).unwrap();
    assert_eq!(wheel.next_expiration(), Some(70_000));
    assert!(fire(&mut wheel, 69_999).is_empty());
    assert_eq!(fire(&mut wheel, 70_000).len(), 1);
}

#[test]
fn next_expiration_is_exact_inside_a_higher_level_slot() {
    let mut wheel = Wheel::new();
    wheel.insert(4_100, ());
    wheel.insert(4_097, ());
    wheel.insert(4_150, ());
    assert_eq!(wheel.next_expiration(), Some(4_097));
    fire(&mut wheel, 4_097);
    assert_eq!(wheel.next_expiration(), Some(4_100));
}

#[test]
fn bytes_per_timer_beside_the_value_stay_within_28() {
    // Per pending timer: its arena slot (generation, and the placement stamp and ready flag in one word; the
    // deadline and the value; the vacant/occupied tag in the generation's spare value) and one 12-byte record in a
    // slot's chunk (index, stamp, the deadline's low bits: 4 bytes more than a record without them, which is what
    // lets a cascade leave the timers untouched).
    let per_timer_unit = std::mem::size_of::<arena::Slot<()>>() + std::mem::size_of::<Record>();
    let per_timer_u64 = std::mem::size_of::<arena::Slot<u64>>() + std::mem::size_of::<Record>();
    println!("bytes per timer: {per_timer_unit} with T = (), {per_timer_u64} with T = u64");
    assert!(per_timer_unit <= 28, "{per_timer_unit} bytes per timer with T = ()");
    assert!(per_timer_u64 - 8 <= 28, "{} bytes beside a u64", per_timer_u64 - 8);
    // A slot is its timer (deadline and value) and 8 bytes, the tag in the generation's spare value: 16 bytes with
    // no value, 24 with a `u64` or a thin pointer (the engine's tasks), 32 with a fat pointer.
    type Fat = std::sync::Arc<dyn Fn() + Send + Sync>;
    assert_eq!(std::mem::size_of::<arena::Slot<()>>(), 16);
    assert_eq!(std::mem::size_of::<arena::Slot<u64>>(), 24);
    assert_eq!(std::mem::size_of::<arena::Slot<Fat>>(), 32);
}

#[test]
fn stale_records_never_outnumber_live_ones_in_a_slot() {
    // Cancel timers of one slot in random order: the slot compacts itself as soon as it holds more than
    // `STALE_PER_LIVE` stale records per live one (past a small floor), and what is left still fires exactly, in
    // insertion order.
    let mut wheel = Wheel::new();
    let keys: Vec<_> = (0..1_000u64).map(|i| wheel.insert(5_000 + i % 3, i)).collect();
    let list = ListId::slot(2, 1);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut cancelled = std::collections::BTreeSet::new();
    for _ in 0..900 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let victim = (state % 1_000) as usize;
        if cancelled.insert(victim) {
            assert_eq!(wheel.cancel(keys[victim]), Some(victim as u64));
        }
        let records = wheel.lists.len(list) as usize;
        let live = wheel.lists.live(list) as usize;
        let bound = (lists::STALE_PER_LIVE as usize * live).max(32);
        assert!(records - live <= bound, "{records} records, {live} live");
    }
    let mut expected: Vec<(u64, u64)> =
        (0..1_000u64).filter(|i| !cancelled.contains(&(*i as usize))).map(|i| (5_000 + i % 3, i)).collect();
    expected.sort_by_key(|&(deadline, i)| (deadline, i));
    assert_eq!(fire(&mut wheel, 6_000), expected);
    assert!(wheel.is_empty());
}

#[test]
fn cancelling_a_crowded_slot_earliest_first_keeps_the_bound_cheap() {
    // 20,000 timers in one slot of level 3 (ticks 1,048,576 to 1,310,719), cancelled earliest first with the bound
    // asked after each cancel, as a driver does: the exact answer would pass over the slot's records after every
    // cancel (200 million reads); the bound reads a slot only once it holds at most `BOUND_SCAN_MAX` live timers.
    let mut wheel = Wheel::new();
    let keys: Vec<_> = (0..20_000u64).map(|i| wheel.insert(1_100_000 + i, i)).collect();
    for (i, &key) in keys.iter().enumerate() {
        wheel.cancel(key);
        let bound = wheel.next_expiration_bound();
        let left = keys.len() - i - 1;
        assert_eq!(bound.is_some(), left > 0);
        if left > BOUND_SCAN_MAX as usize {
            assert_eq!(bound, Some(1_048_576), "the slot's start while it is crowded");
        } else if left > 0 {
            assert_eq!(bound, Some(1_100_000 + i as u64 + 1), "exact once the slot is small");
        }
    }
    let most = u64::from(BOUND_SCAN_MAX) * u64::from(BOUND_SCAN_MAX);
    assert!(wheel.scanned.get() <= most, "{} records read", wheel.scanned.get());
    // And the bound never runs ahead of the exact answer, which the advance then reaches.
    let mut wheel = Wheel::new();
    let keys: Vec<_> = (0..5_000u64).map(|i| wheel.insert(1_100_000 + i, i)).collect();
    wheel.cancel(keys[0]);
    // A driver wakes at each bound: every advance there moves the crowded slot down a level, none fires early,
    // and within a wake per level the bound is the exact deadline.
    let mut wakes = 0;
    while let Some(bound) = wheel.next_expiration_bound().filter(|&bound| bound < 1_100_001) {
        assert_eq!(wheel.advance(bound).unwrap(), 0, "nothing is due at a slot's start");
        wakes += 1;
        assert!(wakes <= 3, "a wake per level above 0");
    }
    assert_eq!(wheel.next_expiration_bound(), Some(1_100_001));
    assert_eq!(wheel.advance(1_100_001).unwrap(), 1);
}

#[test]
fn a_cascade_writes_into_the_chunks_it_reads_so_record_storage_does_not_grow() {
    // 41 × 100 timers in one level-3 slot: cascading it to level 2, then level 1, then level 0 must reuse the
    // chunks it has just read (handed back as each is read), not hold a second copy of the slot's records.
    let mut wheel = Wheel::new();
    let start = 3 << 18; // a level-3 slot
    for i in 0..(lists::CHUNK as u64 * 100) {
        wheel.insert(start + (i * 7919) % 1_000, i);
    }
    let filled = wheel.lists.chunks_made();
    assert_eq!(filled, 100);
    // The first advance cascades the level-3 slot straight to level 1 (the deadlines are within 4,096 ticks of its
    // start) and the first level-1 slot to level 0: with chunks reused, at most one partly filled chunk more per
    // list written (16 on level 1, 64 on level 0); holding the slot twice would take 100 more.
    wheel.advance(start).unwrap();
    assert!(wheel.lists.chunks_made() <= filled + 16 + 64, "cascade made {} chunks", wheel.lists.chunks_made());
    let fired = fire(&mut wheel, start + 1_000);
    assert_eq!(fired.len(), lists::CHUNK * 100);
    assert!(fired.windows(2).all(|pair| pair[0].0 <= pair[1].0), "handed back in deadline order");
    assert!(wheel.lists.chunks_made() <= filled + 16 + 64, "expiry made {} chunks", wheel.lists.chunks_made());
}

#[test]
fn the_due_queue_hands_back_whole_slots_across_chunks_and_skips_what_went_stale() {
    // Three level-0 slots due at once, each over several chunks, then cancels and reschedules of queued timers
    // (first, last and in the middle of a chunk) before they are popped.
    let mut wheel = Wheel::new();
    let per_slot = lists::CHUNK * 2 + 5;
    let mut keys = Vec::new();
    for deadline in [10, 11, 12] {
        for i in 0..per_slot {
            keys.push(wheel.insert(deadline, (deadline, i)));
        }
    }
    assert_eq!(wheel.advance(12).unwrap(), 3 * per_slot);
    let gone: Vec<usize> = vec![0, lists::CHUNK - 1, lists::CHUNK, per_slot - 1, per_slot, 2 * per_slot + 7];
    for &at in &gone {
        assert!(wheel.cancel(keys[at]).is_some());
    }
    wheel.reschedule(keys[3], 100).unwrap(); // moved out of the queue: fires later, not now
    assert!(wheel.has_expired());
    let mut expected: Vec<(u64, usize)> = Vec::new();
    for (at, deadline) in [10u64, 11, 12].iter().flat_map(|&d| std::iter::repeat_n(d, per_slot)).enumerate() {
        if !gone.contains(&at) && at != 3 {
            expected.push((deadline, at % per_slot));
        }
    }
    let got: Vec<(u64, usize)> = std::iter::from_fn(|| wheel.pop_expired()).map(|e| e.value).collect();
    assert_eq!(got, expected);
    assert!(!wheel.has_expired());
    assert_eq!(wheel.len(), 1);
    assert_eq!(fire(&mut wheel, 100).len(), 1);
    // Everything read was given back: the arena's chunks are all on the free chain again.
    assert!(wheel.is_empty());
}

#[test]
fn a_large_cascade_keeps_ties_in_insertion_order_through_its_batches() {
    // 20,000 timers in one slot of level 2, 3 or 5 (a cascade large enough to gather records per slot in batches;
    // level 5 the highest whose records carry the deadline's bits below the slot's), 300 distinct deadlines spread
    // over the levels below so that the cascades reach every one of them, each deadline repeated, with ties from
    // far apart in the insertion order: every timer fires at its deadline, ties in insertion order, as a stable sort
    // says. Once with every record live (the cascade reads no timer), once with some cancelled and some moved before
    // the cascade (a move counts as an insertion).
    for level in [2, 3, 5] {
        for churn in [false, true] {
            a_large_cascade_fires_as_a_stable_sort_says(level, churn);
        }
    }
}

fn a_large_cascade_fires_as_a_stable_sort_says(level: u32, churn: bool) {
    let mut wheel = Wheel::new();
    let start = 5 << (SLOT_BITS * level); // a slot's start on `level`, seen from tick 0
    let spread = 1u64 << (SLOT_BITS * (level - 2)); // 300 steps of it stay within the slot
    let mut expected: Vec<(u64, u64)> = Vec::new();
    let mut keys = Vec::new();
    for i in 0..20_000u64 {
        let deadline = start + (i * 7_919) % 300 * spread + i % 2;
        keys.push((wheel.insert(deadline, i), deadline));
    }
    let (gone, moved) = if churn { (3, 7) } else { (10, 10) }; // `i % 10` is never 10: nothing changes
    for (i, &(key, deadline)) in keys.iter().enumerate() {
        if i % 10 == gone {
            assert!(wheel.cancel(key).is_some());
        } else if i % 10 == moved {
            wheel.reschedule(key, deadline + 1).unwrap();
        }
    }
    let order = keys.iter().enumerate().filter(|(i, _)| i % 10 != gone && i % 10 != moved);
    expected.extend(order.map(|(i, &(_, deadline))| (deadline, i as u64)));
    let later = keys.iter().enumerate().filter(|(i, _)| i % 10 == moved);
    expected.extend(later.map(|(i, &(_, deadline))| (deadline + 1, i as u64)));
    expected.sort_by_key(|&(deadline, _)| deadline); // stable: insertion order within a tick
    let fired = fire(&mut wheel, start + 400 * spread);
    assert_eq!(fired, expected);
    assert!(wheel.is_empty());
}
