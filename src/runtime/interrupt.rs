//! Ctrl-C (SIGINT) for work that must be wound down rather than dropped.
//!
//! Why: an Athena query keeps running (and billing) in AWS after the process that started it
//! dies, so on Ctrl-C a query in flight is stopped (`StopQueryExecution`) before the process exits.
//! Everything else lakesight does is local and its outputs are published atomically, so an
//! interrupt with nothing to wind down exits at once (status 130, as the default handler would).
//!
//! The interrupt is a flag that stays set, not an event: a Ctrl-C that arrives while the code that
//! cares is busy elsewhere (say, in the middle of a poll request) is still seen at its next check.
//! An earlier version selected on a fresh `tokio::signal::ctrl_c()` in each poll round, and lost
//! an interrupt that arrived between two rounds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::watch;

/// How long work in flight gets to wind down after Ctrl-C before the process exits anyway.
pub const GRACE: Duration = Duration::from_secs(30);

fn flag() -> &'static watch::Sender<bool> {
    static FLAG: OnceLock<watch::Sender<bool>> = OnceLock::new();
    FLAG.get_or_init(|| watch::channel(false).0)
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Held while work that must be wound down on interrupt is in flight.
#[derive(Debug)]
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Mark work in flight until the guard is dropped.
pub fn guard() -> Guard {
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    Guard(())
}

/// Resolves once an interrupt was requested (at once if it already was); never without one.
pub async fn interrupted() {
    let mut rx = flag().subscribe();
    // `wait_for` checks the current value first, so an earlier interrupt is not missed.
    let _ = rx.wait_for(|set| *set).await;
}

/// Request an interrupt (what Ctrl-C does once [`install`]ed).
pub fn request() {
    flag().send_replace(true);
}

/// Listen for Ctrl-C (call once, inside the runtime, from the binary). On the first: set the flag;
/// with nothing in flight exit at once, else give the work [`GRACE`] to stop (a second Ctrl-C
/// exits at once).
pub fn install() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        let in_flight = IN_FLIGHT.load(Ordering::SeqCst);
        if in_flight == 0 {
            tracing::warn!("interrupted");
            std::process::exit(130);
        }
        tracing::warn!(
            in_flight,
            grace_secs = GRACE.as_secs(),
            "interrupted: stopping work in flight (Ctrl-C again to exit now)"
        );
        request();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = tokio::time::sleep(GRACE) => {}
        }
        std::process::exit(130);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one test in this process that touches the flag (it is process-wide and stays set).
    #[tokio::test]
    async fn an_interrupt_is_a_flag_seen_by_waiters_before_and_after_it() {
        let before = tokio::spawn(interrupted());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!before.is_finished(), "no interrupt yet");
        let g = guard();
        assert_eq!(IN_FLIGHT.load(Ordering::SeqCst), 1);
        request();
        tokio::time::timeout(Duration::from_secs(5), before).await.unwrap().unwrap();
        // A waiter that starts after the interrupt (the poll loop's next round) sees it at once.
        tokio::time::timeout(Duration::from_secs(5), interrupted()).await.unwrap();
        drop(g);
        assert_eq!(IN_FLIGHT.load(Ordering::SeqCst), 0);
    }
}
