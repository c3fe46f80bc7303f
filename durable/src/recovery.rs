//! Recovery: any node's expired leases put back (or, for a reserve, given back), and the orphan sweep.

use std::time::Duration;

use crate::conn::Conn;
use crate::error::Error;
use crate::protocol::recovery::{RecoverArgs, recover as recover_script, sweep as sweep_script};
use crate::shared::{Counters, NodeShared};

/// Recovers up to 1,000 expired leases; returns how long until the next lease ends (`None`: no lease is held).
pub(crate) fn recover(
    conn: &mut Conn,
    base: &str,
    args: &RecoverArgs,
    counters: &Counters,
) -> Result<Option<Duration>, Error> {
    let recovered = recover_script(conn, base, args)?;
    NodeShared::count(&counters.recovered, recovered.tasks);
    Ok(recovered.next_end)
}

/// Sweeps a slice of 200 records from `cursor` for orphans; returns the next cursor ("0": a pass ended).
pub(crate) fn sweep(conn: &mut Conn, base: &str, cursor: &str, counters: &Counters) -> Result<String, Error> {
    let (next, fixed) = sweep_script(conn, base, cursor, 200)?;
    NodeShared::count(&counters.orphans, fixed);
    Ok(next)
}
