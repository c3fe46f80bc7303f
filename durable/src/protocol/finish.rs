//! `finish.lua`: runs' ends recorded, many per call.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use redis::Value;

use super::reply::array;
use super::{call, query, scripts};
use crate::conn::Conn;
use crate::error::Error;
use crate::outcome::Finished;

/// How ended records are kept.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Keep {
    /// Retention of a succeeded task's record, and of any other end's, in µs.
    pub(crate) succeeded_us: u64,
    pub(crate) others_us: u64,
    /// The most ended records kept (0: no limit).
    pub(crate) most: u64,
    /// How far ahead a retry's due time signals the claimers, in µs.
    pub(crate) signal_us: u64,
}

/// Records `ends`, retrying through a lost connection for up to `patience` (the scripts check each end's token, so
/// a repeat is harmless); returns how many were refused as stale.
pub(crate) fn finish(
    conn: &mut Conn,
    base: &str,
    keep: Keep,
    ends: &[Finished],
    patience: Duration,
) -> Result<usize, Error> {
    let mut cmd = call(&scripts().finish, base);
    cmd.arg(keep.succeeded_us).arg(keep.others_us).arg(keep.most).arg(keep.signal_us);
    for end in ends {
        let (outcome, delay_us) = end.outcome.script_args();
        cmd.arg(end.id).arg(end.token).arg(outcome).arg(delay_us).arg(&end.error);
    }
    let never = AtomicBool::new(false);
    let stale: Value = conn.run_retrying(&never, patience, |con| query(con, &cmd))?;
    Ok(array(&stale).map(<[Value]>::len).unwrap_or(0))
}
