//! A task's priority: which run queue it waits in once due. This module imports only `std`'s formatting and parsing.

use std::fmt;
use std::str::FromStr;

/// Which run queue a task waits in once due. Workers always take from the highest non-empty queue.
///
/// Ordered by urgency: `High > Normal > Low`, so `max` picks the most urgent and sorting descending puts it first
/// (the [`code`](Priority::code) runs the other way, 0 for `High`, as queue indexes do).
///
/// ```
/// use taskwheel::Priority;
///
/// assert!(Priority::High > Priority::Normal && Priority::Normal > Priority::Low);
/// assert_eq!(Priority::ALL.iter().max(), Some(&Priority::High));
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Runs before any queued `Normal` or `Low` task.
    High = 0,
    /// The default.
    #[default]
    Normal = 1,
    /// Runs only when no `High` or `Normal` task is queued.
    Low = 2,
}

impl Priority {
    /// Every priority, highest first: the order of [`code`](Priority::code).
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// The priority's number, the one conversion every layer uses (the run queue's index, the C API's
    /// `TW_PRIORITY_*`, the durable scripts' field): 0 for `High`, 1 for `Normal`, 2 for `Low`.
    ///
    /// ```
    /// use taskwheel::Priority;
    ///
    /// for priority in Priority::ALL {
    ///     assert_eq!(Priority::from_code(u32::from(priority.code())), Some(priority));
    /// }
    /// assert_eq!(Priority::from_code(3), None);
    /// ```
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The priority numbered `code` by [`code`](Priority::code); `None` for any other number.
    pub const fn from_code(code: u32) -> Option<Priority> {
        match code {
            0 => Some(Priority::High),
            1 => Some(Priority::Normal),
            2 => Some(Priority::Low),
            _ => None,
        }
    }
}

impl Ord for Priority {
    fn cmp(&self, other: &Priority) -> std::cmp::Ordering {
        other.code().cmp(&self.code())
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Priority) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The lower-case name: `high`, `normal`, `low` (what [`FromStr`] reads back, and what logs and metrics show).
impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        })
    }
}

/// A priority's name, in any case: `high`, `normal`, `low`.
///
/// ```
/// use taskwheel::Priority;
///
/// assert_eq!("High".parse::<Priority>(), Ok(Priority::High));
/// assert_eq!(Priority::Low.to_string(), "low");
/// let refused = "urgent".parse::<Priority>().unwrap_err();
/// assert_eq!(refused.to_string(), "unknown priority \"urgent\" (high, normal or low)");
/// ```
impl FromStr for Priority {
    type Err = UnknownPriority;

    fn from_str(name: &str) -> Result<Priority, UnknownPriority> {
        Priority::ALL
            .into_iter()
            .find(|priority| priority.to_string().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownPriority(name.to_string()))
    }
}

/// A name [`Priority::from_str`] does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPriority(pub String);

impl fmt::Display for UnknownPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown priority {:?} (high, normal or low)", self.0)
    }
}

impl std::error::Error for UnknownPriority {}
