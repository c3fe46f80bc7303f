//! Where the engine reads the time: the real monotonic clock, or a manual clock that tests move by hand.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::sync::notifier::Notifier;
use crate::sync::{Arc, ListenerRef, Mutex, listener_ref, upgrade};

/// The clock an [`Engine`](crate::Engine) reads.
///
/// Every deadline, timeout and lateness figure of an engine is measured on its clock. With a
/// [`ManualClock`] time stands still until the test moves it, so time logic is tested deterministically.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::{Clock, ManualClock};
///
/// let manual = ManualClock::new();
/// let clock = Clock::Manual(manual.clone());
/// let before = clock.now();
/// manual.advance(Duration::from_millis(5));
/// assert_eq!(clock.now() - before, Duration::from_millis(5));
/// ```
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The operating system's monotonic clock (`Instant::now`).
    #[default]
    Monotonic,
    /// A clock that moves only when [`ManualClock::advance`] is called.
    Manual(ManualClock),
}

impl Clock {
    /// The current instant on this clock.
    pub fn now(&self) -> Instant {
        match self {
            Clock::Monotonic => Instant::now(),
            Clock::Manual(manual) => manual.now(),
        }
    }

    /// The wall-clock time that corresponds to [`now`](Self::now).
    pub fn system_now(&self) -> SystemTime {
        match self {
            Clock::Monotonic => SystemTime::now(),
            Clock::Manual(manual) => manual.system_now(),
        }
    }

    /// Blocks on `notifier` until `done()` is true (returns `true`) or this clock reaches `deadline` (returns
    /// `false`).
    pub(crate) fn wait(&self, notifier: &Notifier, deadline: Option<Instant>, done: impl FnMut() -> bool) -> bool {
        let timer = match self {
            Clock::Monotonic => deadline,
            Clock::Manual(_) => None, // a manual clock's moves notify
        };
        notifier.wait_until(timer, || deadline.is_some_and(|deadline| self.now() >= deadline), done)
    }

    /// Has `notifier` woken whenever this clock moves (a no-op for the monotonic clock, whose waits time out).
    pub(crate) fn subscribe(&self, notifier: &Arc<Notifier>) {
        if let Clock::Manual(manual) = self {
            manual.inner.listeners.lock().push(listener_ref(notifier));
        }
    }
}

/// A clock that stands still until [`advance`](Self::advance) moves it. Clones share one time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskwheel::ManualClock;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(clock.elapsed(), Duration::from_secs(1));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    origin: Instant,
    /// The wall-clock time at the origin: moved by `set_system_time`.
    system_origin: Mutex<SystemTime>,
    elapsed: Mutex<Duration>,
    listeners: Mutex<Vec<ListenerRef<Notifier>>>,
}

/// How far a manual clock can move from its origin: about 146 years, well inside what `Instant` can hold.
const MAX_ELAPSED: Duration = Duration::from_nanos(1 << 62);

impl ManualClock {
    /// A manual clock that starts at the current real instant and does not move by itself.
    pub fn new() -> ManualClock {
        ManualClock {
            inner: Arc::new(ManualInner {
                origin: Instant::now(),
                system_origin: Mutex::new(SystemTime::now()),
                elapsed: Mutex::new(Duration::ZERO),
                listeners: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The clock's current instant.
    pub fn now(&self) -> Instant {
        self.inner.origin + *self.inner.elapsed.lock()
    }

    /// The wall-clock time of [`now`](Self::now): the real wall-clock time at creation plus
    /// [`elapsed`](Self::elapsed), unless [`set_system_time`](Self::set_system_time) set it since.
    pub fn system_now(&self) -> SystemTime {
        let origin = *self.inner.system_origin.lock();
        origin + *self.inner.elapsed.lock()
    }

    /// Sets the wall clock to `time` without moving the monotonic clock, as an NTP step, a resume from suspend or
    /// `date -s` does to a real machine (a `time` before the clock's creation minus its elapsed time is taken as
    /// the Unix epoch). From here on both clocks move together again; engines reading this clock are woken.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use taskwheel::ManualClock;
    ///
    /// let clock = ManualClock::new();
    /// let before = clock.now();
    /// let next_year = clock.system_now() + Duration::from_secs(365 * 24 * 3600);
    /// clock.set_system_time(next_year);
    /// assert_eq!((clock.system_now(), clock.now()), (next_year, before));
    /// ```
    pub fn set_system_time(&self, time: SystemTime) {
        {
            let elapsed = *self.inner.elapsed.lock();
            *self.inner.system_origin.lock() = time.checked_sub(elapsed).unwrap_or(SystemTime::UNIX_EPOCH);
        }
        self.wake_listeners();
    }

    /// How far the clock has been moved since it was created.
    pub fn elapsed(&self) -> Duration {
        *self.inner.elapsed.lock()
    }

    /// Moves the clock forward by `by` (at most to about 146 years from its creation) and wakes every engine
    /// thread and waiter that reads it.
    pub fn advance(&self, by: Duration) {
        {
            let mut elapsed = self.inner.elapsed.lock();
            *elapsed = elapsed.saturating_add(by).min(MAX_ELAPSED);
        }
        self.wake_listeners();
    }

    fn wake_listeners(&self) {
        let listeners: Vec<Arc<Notifier>> = {
            let mut listeners = self.inner.listeners.lock();
            listeners.retain(|listener| upgrade(listener).is_some());
            listeners.iter().filter_map(upgrade).collect()
        };
        for notifier in listeners {
            notifier.notify_all_always();
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").field("elapsed", &self.elapsed()).finish()
    }
}
