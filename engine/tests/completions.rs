//! The completion descriptor: readable exactly when tasks have ended since it was last read.
#![cfg(target_os = "linux")]

use std::os::fd::AsRawFd;
use taskwheel::{Clock, Engine, ManualClock, TaskState};

/// Whether `fd` is readable now (a zero-timeout poll).
fn readable(fd: i32) -> bool {
    let mut pollfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, a zero timeout.
    unsafe { libc::poll(&mut pollfd, 1, 0) == 1 }
}

/// Reads the count of ends since the last read (0 when there were none).
fn take(fd: i32) -> u64 {
    let mut count = [0u8; 8];
    // SAFETY: the engine's open eventfd and an 8-byte buffer.
    let read = unsafe { libc::read(fd, count.as_mut_ptr().cast(), 8) };
    if read == 8 { u64::from_ne_bytes(count) } else { 0 }
}

#[test]
fn the_descriptor_counts_task_ends_of_every_kind_and_is_quiet_otherwise() {
    let engine = Engine::builder().workers(2).clock(Clock::Manual(ManualClock::new())).build().unwrap();
    let fd = engine.completion_fd().unwrap().as_raw_fd();
    assert_eq!(engine.completion_fd().unwrap().as_raw_fd(), fd, "one descriptor per engine");
    assert!(!readable(fd));
    let pending = engine.task(|_| ()).after(std::time::Duration::from_secs(60)).submit().unwrap();
    engine.wait_idle().unwrap();
    assert!(!readable(fd), "a pending task has not ended");
    let handles: Vec<_> =
        (0..5).map(|i| engine.spawn(move |_| if i == 0 { Err("no") } else { Ok(()) }).unwrap()).collect();
    for handle in &handles {
        handle.wait().unwrap();
    }
    assert!(readable(fd));
    assert_eq!(take(fd), 5, "succeeded and failed tasks alike");
    assert!(!readable(fd), "reading makes it quiet again");
    pending.cancel();
    assert_eq!(pending.wait().unwrap(), TaskState::Cancelled);
    assert_eq!(take(fd), 1, "a cancelled task ends too");
}
