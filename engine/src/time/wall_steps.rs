//! Hearing of wall-clock steps as they happen: on Linux a `timerfd` on `CLOCK_REALTIME` armed with
//! `TFD_TIMER_CANCEL_ON_SET` becomes readable (its read fails with `ECANCELED`) whenever the wall clock is set
//! discontinuously — an NTP step, `date -s`, a resume from suspend. One small thread blocks in `poll` on it and
//! wakes the tick thread, which then compares the clocks itself. Started only while cron tasks are pending on an
//! engine with the monotonic clock; where it cannot start, the tick thread falls back to looking every second.

use crate::sync::thread;

/// A running watcher: dropping it stops and joins its thread.
pub(crate) struct WallWatch {
    #[cfg(all(target_os = "linux", not(loom)))]
    stop: std::os::fd::OwnedFd,
    thread: Option<thread::JoinHandle<()>>,
}

impl WallWatch {
    /// Starts a watcher that calls `on_step` after each step of the wall clock; `None` where there is no such
    /// facility (or the system refused it).
    #[cfg(all(target_os = "linux", not(loom)))]
    pub(crate) fn start(name: &str, on_step: impl Fn() + Send + 'static) -> Option<WallWatch> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: timerfd_create and eventfd take no pointers; a result of -1 is an error, anything else a new
        // descriptor that we own from here on (wrapped at once, closed on drop).
        let timer = unsafe { libc::timerfd_create(libc::CLOCK_REALTIME, libc::TFD_CLOEXEC) };
        if timer < 0 {
            return None;
        }
        // SAFETY: as above: `timer` is a fresh descriptor owned by no one else.
        let timer = unsafe { OwnedFd::from_raw_fd(timer) };
        // SAFETY: as above.
        let stop = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if stop < 0 {
            return None;
        }
        // SAFETY: as above: `stop` is a fresh descriptor owned by no one else.
        let stop = unsafe { OwnedFd::from_raw_fd(stop) };
        if !arm(timer.as_raw_fd()) {
            return None;
        }
        let stop_fd = stop.as_raw_fd();
        let thread = thread::Builder::new()
            .name(format!("{name}-wallclock"))
            .spawn(move || watch(&timer, stop_fd, on_step))
            .ok()?;
        Some(WallWatch { stop, thread: Some(thread) })
    }

    #[cfg(not(all(target_os = "linux", not(loom))))]
    #[cfg_attr(loom, allow(dead_code))] // the tick thread polls instead under loom
    pub(crate) fn start(_name: &str, _on_step: impl Fn() + Send + 'static) -> Option<WallWatch> {
        None
    }
}

impl Drop for WallWatch {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", not(loom)))]
        {
            use std::os::fd::AsRawFd;
            let one: u64 = 1;
            // SAFETY: `stop` is our open eventfd and `one` an 8-byte value that outlives the call, as eventfd's
            // write requires; a failure cannot happen short of a counter overflow, which one write cannot cause.
            let _ = unsafe { libc::write(self.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Arms `timer` (absolute, far in the future, cancelled on a clock set); `false` when the kernel refuses.
#[cfg(all(target_os = "linux", not(loom)))]
fn arm(timer: std::os::fd::RawFd) -> bool {
    let far = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        // About 2286: far enough never to expire, small enough for every time_t.
        it_value: libc::timespec { tv_sec: 10_000_000_000, tv_nsec: 0 },
    };
    let flags = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
    // SAFETY: `timer` is an open timerfd; `far` is a valid itimerspec that outlives the call; the old value is not
    // asked for (NULL is allowed).
    unsafe { libc::timerfd_settime(timer, flags, &far, std::ptr::null_mut()) == 0 }
}

#[cfg(all(target_os = "linux", not(loom)))]
fn watch(timer: &std::os::fd::OwnedFd, stop: std::os::fd::RawFd, on_step: impl Fn()) {
    use std::os::fd::AsRawFd;
    loop {
        let mut fds = [
            libc::pollfd { fd: timer.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: stop, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: `fds` is an array of two initialised pollfd that outlives the call, and 2 is its length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return; // asked to stop (the owner keeps the eventfd open until this thread is joined)
        }
        if fds[0].revents != 0 {
            let mut expirations = 0u64;
            // SAFETY: `timer` is open and `expirations` an 8-byte buffer that outlives the call, as a timerfd read
            // requires. After a clock set the read fails with ECANCELED; either way the timer is re-armed below.
            let _ = unsafe { libc::read(timer.as_raw_fd(), (&mut expirations as *mut u64).cast(), 8) };
            if !arm(timer.as_raw_fd()) {
                return;
            }
            on_step();
        }
    }
}

#[cfg(all(test, target_os = "linux", not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_starts_on_linux_and_its_drop_stops_and_joins_its_thread() {
        // Setting the real clock needs CAP_SYS_TIME and would disturb the machine: the steps themselves are tested
        // on the manual clock (engine/tests/cron.rs); here, that the watcher runs, waits, and stops when dropped.
        let (steps_tx, steps) = std::sync::mpsc::channel::<()>();
        let watch = WallWatch::start("test", move || {
            let _ = steps_tx.send(());
        });
        assert!(watch.is_some(), "timerfd with TFD_TIMER_CANCEL_ON_SET is available on Linux");
        drop(watch); // joins: a watcher that did not stop would hang here
        // The callback went with the thread: the channel is disconnected once what it reported (if the real clock
        // happened to step) is read; a callback still alive would block this loop.
        while steps.recv().is_ok() {}
    }
}
