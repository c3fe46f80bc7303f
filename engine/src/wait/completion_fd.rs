//! A file descriptor that becomes readable when tasks end, for hosts with an event loop (epoll, libuv, a
//! `select` loop): they learn of completions without a thread blocked per wait. Linux: an `eventfd`, created on
//! first request, to which every task end adds 1.

use crate::error::Error;
#[cfg(not(target_os = "linux"))]
use crate::error::invalid;
use crate::sync::FdCell;
use crate::sync::Mutex;
use crate::sync::atomic::Ordering;

/// The engine's completion eventfd, if one was asked for.
pub(crate) struct Completions {
    fd: FdCell,
    /// Serialises the creation.
    created: Mutex<()>,
}

impl Completions {
    pub(crate) fn new() -> Completions {
        Completions { fd: FdCell::new(-1), created: Mutex::new(()) }
    }

    /// The eventfd, created on the first call.
    #[cfg(target_os = "linux")]
    pub(crate) fn fd(&self) -> Result<i32, Error> {
        let _created = self.created.lock();
        let fd = self.fd.load(Ordering::SeqCst);
        if fd >= 0 {
            return Ok(fd);
        }
        // SAFETY: eventfd takes no pointers; -1 is an error, anything else a new descriptor owned by this struct
        // (closed in its drop).
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::Spawn(crate::sync::PlainArc::new(std::io::Error::last_os_error())));
        }
        self.fd.store(fd, Ordering::SeqCst);
        Ok(fd)
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn fd(&self) -> Result<i32, Error> {
        let _ = &self.created;
        Err(invalid("a completion descriptor needs Linux's eventfd"))
    }

    /// Adds one task end, if a descriptor was asked for.
    pub(crate) fn signal(&self) {
        let fd = self.fd.load(Ordering::Relaxed);
        if fd < 0 {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            let one: u64 = 1;
            // SAFETY: `fd` is this struct's open eventfd (closed only in its drop, after every signal), and `one`
            // an 8-byte value that outlives the call, as eventfd's write requires. A counter at its maximum
            // (never: 2^64 - 2 ends unread) would make the write fail with EAGAIN, which loses nothing readable.
            let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }
}

impl Drop for Completions {
    fn drop(&mut self) {
        let fd = self.fd.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: our own descriptor, closed once, when nothing can signal it any more.
            let _ = unsafe { libc::close(fd) };
        }
    }
}
