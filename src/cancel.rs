//! Cancellation as a value: a [`Cancel`] token that the binary trips on SIGINT or SIGTERM and that
//! the run passes down to the work that must be wound down rather than dropped.
//!
//! Why: an Athena query keeps running (and billing) in AWS after the process that started it dies,
//! so on a stop a query in flight is stopped (`StopQueryExecution`) before the process exits.
//! SageMaker Processing and AWS Batch stop a job with SIGTERM, a person with Ctrl-C (SIGINT); both
//! mean the same here. Everything else lakesight does is local and its outputs are published
//! atomically after every stage has finished, so a stop before publishing leaves nothing behind.
//!
//! The token is a flag that stays set, not an event: a stop that arrives while the code that cares
//! is busy elsewhere (say, in the middle of a poll request) is still seen at its next check. An
//! earlier version selected on a fresh `tokio::signal::ctrl_c()` in each poll round, and lost an
//! interrupt that arrived between two rounds. The library never exits the process; the binary
//! decides (see `main.rs`): it exits as soon as nothing is in flight (at once when nothing was),
//! at most [`GRACE`] after the stop. Work that must finish holds a [`Guard`]: a query being
//! stopped, files being published, a run's day leases until they are let go.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long work in flight gets to wind down after a stop before the binary exits anyway.
pub const GRACE: Duration = Duration::from_secs(30);

/// A cancellation token; clones share one flag and one in-flight count.
#[derive(Debug, Clone)]
pub struct Cancel {
    flag: Arc<watch::Sender<bool>>,
    in_flight: Arc<AtomicUsize>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

/// Held while work that must be wound down on a stop is in flight; see [`Cancel::guard`].
#[derive(Debug)]
pub struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Cancel {
        Cancel {
            flag: Arc::new(watch::channel(false).0),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Request cancellation (what SIGINT/SIGTERM do in the binary).
    pub fn cancel(&self) {
        self.flag.send_replace(true);
    }

    /// True once cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        *self.flag.borrow()
    }

    /// Resolves once cancellation was requested (at once if it already was); never without one.
    pub async fn cancelled(&self) {
        let mut rx = self.flag.subscribe();
        // `wait_for` checks the current value first, so an earlier request is not missed.
        let _ = rx.wait_for(|set| *set).await;
    }

    /// Mark work in flight until the guard is dropped.
    pub fn guard(&self) -> Guard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Guard(Arc::clone(&self.in_flight))
    }

    /// Work in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Resolves once no work is in flight (checked every 20 ms; at once when none is).
    pub async fn idle(&self) {
        while self.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_is_a_flag_seen_by_waiters_before_and_after_it() {
        let c = Cancel::new();
        let before = tokio::spawn({
            let c = c.clone();
            async move { c.cancelled().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!before.is_finished(), "not cancelled yet");
        let g = c.guard();
        assert_eq!(c.in_flight(), 1);
        c.cancel();
        tokio::time::timeout(Duration::from_secs(5), before).await.unwrap().unwrap();
        // A waiter that starts after the request (the poll loop's next round) sees it at once.
        tokio::time::timeout(Duration::from_secs(5), c.cancelled()).await.unwrap();
        assert!(c.is_cancelled());
        drop(g);
        assert_eq!(c.in_flight(), 0);
        // Another token is independent: values, not a process-wide global.
        assert!(!Cancel::new().is_cancelled());
    }
}
