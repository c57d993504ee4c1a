//! Day leases: at most one run works on (and publishes) a day of an output at a time.
//!
//! Why: the nightly job, a rerun by hand and a Batch retry whose first attempt is still alive can
//! all run the same day. Each `(day, detector)` findings file is replaced atomically, but two runs
//! publishing one day would interleave their files (A's outliers, B's trends) and race on the
//! day's companions (plots, series, conditions carried to the next day). So a run takes a lease
//! on each day it analyses before it reads anything, and the second run of a day stops at once
//! with a message naming the holder — before it spends an Athena query or a lake scan.
//!
//! Mechanism (S3 has no locks; conditional writes are what it offers):
//! `_leases/dt=<day>/<generation>.claim.json` is created with a conditional put
//! ([`Location::create_new`]: `If-None-Match: *` on S3, a hard link on a local folder), so of two
//! runs creating the same generation exactly one succeeds. The holder rewrites
//! `<generation>.beat.json` (its heartbeat: a time, and whether it has let go) every third of the
//! lease's time to live while it runs, and marks it released when it ends, failed or not. A new
//! run reads the newest generation: released or silent for longer than its time to live, the
//! next generation is free to claim; else the day is busy (exit 75, transient: retry later). A run
//! killed outright (SIGKILL, a lost instance) leaves its claim until the time to live passes;
//! `lakesight run --take-over` claims the next generation at once, for the operator who knows the
//! holder is gone. Older generations are deleted by whoever claims a newer one.
//!
//! Before publishing, the run checks that no newer generation exists (a holder paused for longer
//! than its time to live may have been taken over; it then stops without publishing). The check
//! and the publish are not one atomic step: a holder frozen between them for a whole time to live
//! could still publish after its successor began — the time to live (default 10 minutes) is what
//! makes that unlikely, as with any lease without fencing tokens. Clocks: the heartbeat carries
//! the holder's time and the newcomer compares it with its own, so hosts' clocks must agree to
//! well within the time to live (NTP does).
//!
//! The lease is per output and day, not per job: jobs that share an output take turns on a day
//! (the second exits 75), which also keeps their plot clean-ups (`Output::supersede`) apart.
//!
//! The prefix starts with `_`, which Athena, Hive and pyarrow skip.

use serde::{Deserialize, Serialize};

use crate::store::{Location, PutError};

/// The folder of the leases under the output root.
pub const LEASES: &str = "_leases";

/// How a run takes its leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOptions {
    /// How long a claim holds without a heartbeat (ms).
    pub ttl_ms: i64,
    /// Claim the next generation even when the current holder looks alive.
    pub take_over: bool,
}

/// A claim: who holds a day, from when, for how long without a heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    /// The holder's run id.
    pub run_id: String,
    /// The holder's job name.
    pub job: String,
    /// When the claim was made (ms since the epoch, the holder's clock).
    pub acquired_ms: i64,
    /// Time to live without a heartbeat (ms).
    pub ttl_ms: i64,
    /// The holder's host name, for the message a busy run prints.
    pub host: String,
    /// Claimed over a holder that looked alive (`--take-over`).
    #[serde(default)]
    pub took_over: bool,
}

/// A heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Beat {
    /// When (ms since the epoch, the holder's clock).
    pub at_ms: i64,
    /// The holder has ended (published, failed or stopped) and let go.
    pub released: bool,
}

/// Errors of taking or keeping a lease.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another run holds the day.
    #[error(
        "day {day} is being run by {holder} (job {job}, host {host}; last heartbeat {beat}, lease expires {expires}): \
         stopped before reading anything, so the day is not published twice. Rerun after that run ends or its lease \
         expires, or with --take-over if it is gone"
    )]
    Busy {
        /// The day.
        day: String,
        /// The holder's run id.
        holder: String,
        /// The holder's job.
        job: String,
        /// The holder's host.
        host: String,
        /// The holder's last heartbeat (RFC 3339).
        beat: String,
        /// When the lease expires without another heartbeat (RFC 3339).
        expires: String,
    },
    /// The lease was taken over while the run worked.
    #[error("the lease on day {day} was taken over by run {by} while this run worked: nothing published")]
    Lost {
        /// The day.
        day: String,
        /// The run that holds it now.
        by: String,
    },
    /// Claims of the day kept vanishing while read: other runs are claiming it right now.
    #[error("day {day}: other runs are claiming it right now; retry later")]
    Contended {
        /// The day.
        day: String,
    },
    /// A lease object could not be read as one.
    #[error("lease object {url}: {reason}")]
    Decode {
        /// The object's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Reading or writing a lease object failed.
    #[error(transparent)]
    Store(#[from] PutError),
}

/// One day held.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    day: String,
    generation: u64,
}

/// The leases of one run. Clones share nothing but the location handle (cheap); the heartbeat
/// task holds a clone.
#[derive(Debug, Clone)]
pub struct Leases {
    location: Location,
    run_id: String,
    ttl_ms: i64,
    held: Vec<Held>,
}

fn claim_name(generation: u64) -> String {
    format!("{generation:010}.claim.json")
}

fn beat_name(generation: u64) -> String {
    format!("{generation:010}.beat.json")
}

fn day_dir(day: &str) -> String {
    format!("{LEASES}/dt={day}")
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// The generations present under a day's folder, newest last.
async fn generations(location: &Location, day: &str) -> Result<Vec<u64>, LeaseError> {
    let mut g: Vec<u64> = location
        .list_files(&day_dir(day))
        .await?
        .iter()
        .filter_map(|n| n.strip_suffix(".claim.json").and_then(|s| s.parse().ok()))
        .collect();
    g.sort_unstable();
    g.dedup();
    Ok(g)
}

async fn read_json<T: for<'de> Deserialize<'de>>(location: &Location, rel: &str) -> Result<Option<T>, LeaseError> {
    let Some(bytes) = location.get_opt(rel).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| LeaseError::Decode {
        url: location.url_of(rel),
        reason: e.to_string(),
    })
}

impl Leases {
    /// Claim every day of `days` (in order) for `run_id`, or none: a busy day releases the
    /// days already claimed and returns [`LeaseError::Busy`].
    pub async fn acquire(
        location: &Location,
        days: &[String],
        run_id: &str,
        job: &str,
        now_ms: i64,
        opts: LeaseOptions,
    ) -> Result<Leases, LeaseError> {
        let mut leases = Leases {
            location: location.clone(),
            run_id: run_id.to_string(),
            ttl_ms: opts.ttl_ms,
            held: Vec::new(),
        };
        let claim = Claim {
            run_id: run_id.to_string(),
            job: job.to_string(),
            acquired_ms: now_ms,
            ttl_ms: opts.ttl_ms,
            host: hostname(),
            took_over: false,
        };
        for day in days {
            // Held as soon as the claim exists, so a failure after it (the first beat) still
            // releases it.
            let claimed = match leases.claim_day(day, &claim, now_ms, opts.take_over).await {
                Ok(generation) => {
                    leases.held.push(Held {
                        day: day.clone(),
                        generation,
                    });
                    leases.write_beat(day, generation, now_ms, false).await
                }
                Err(e) => Err(e),
            };
            match claimed {
                Ok(()) => {}
                Err(e) => {
                    if let Err(r) = leases.release(now_ms).await {
                        tracing::warn!(error = %r, "releasing the days claimed before a busy one");
                    }
                    return Err(e);
                }
            }
        }
        tracing::info!(
            days = days.len(),
            ttl_s = opts.ttl_ms / 1000,
            take_over = opts.take_over,
            "day leases taken"
        );
        Ok(leases)
    }

    /// Claim one day: the next generation after the newest, if that one is free. The caller
    /// writes the first beat.
    async fn claim_day(&self, day: &str, claim: &Claim, now_ms: i64, take_over: bool) -> Result<u64, LeaseError> {
        let dir = day_dir(day);
        // A claim listed and gone before it is read was deleted by a newer claimant: list again.
        let mut tries = 0;
        let current = loop {
            let gens = generations(&self.location, day).await?;
            let Some(&g) = gens.last() else { break None };
            match read_json::<Claim>(&self.location, &format!("{dir}/{}", claim_name(g))).await? {
                Some(c) => break Some((g, c)),
                None if tries < 3 => tries += 1,
                None => return Err(LeaseError::Contended { day: day.to_string() }),
            }
        };
        let next = match current {
            None => 0,
            Some((g, current)) => {
                let beat: Option<Beat> = read_json(&self.location, &format!("{dir}/{}", beat_name(g))).await?;
                let last = beat.as_ref().map(|b| b.at_ms).unwrap_or(current.acquired_ms);
                let released = beat.as_ref().is_some_and(|b| b.released);
                let expires = last.saturating_add(current.ttl_ms);
                if !released && now_ms < expires && !take_over {
                    return Err(busy(day, &current, last, expires));
                }
                if !released && now_ms < expires {
                    tracing::warn!(day, holder = %current.run_id, "taking over a day whose holder looks alive (--take-over)");
                }
                g + 1
            }
        };
        let mine = Claim {
            took_over: take_over && next > 0,
            ..claim.clone()
        };
        let body = serde_json::to_vec_pretty(&mine).unwrap_or_default();
        if !self.location.create_new(&format!("{dir}/{}", claim_name(next)), &body).await? {
            // Another run claimed the same generation first.
            let winner: Option<Claim> = read_json(&self.location, &format!("{dir}/{}", claim_name(next))).await?;
            let w = winner.unwrap_or_else(|| Claim {
                run_id: "(unknown)".into(),
                job: "?".into(),
                acquired_ms: now_ms,
                ttl_ms: self.ttl_ms,
                host: "?".into(),
                took_over: false,
            });
            return Err(busy(day, &w, w.acquired_ms, w.acquired_ms.saturating_add(w.ttl_ms)));
        }
        // Older generations, claims and beats alike (a beat may outlive its claim: a holder that
        // lost its lease can still beat once).
        for name in self.location.list_files(&dir).await? {
            let older = name.split('.').next().and_then(|g| g.parse::<u64>().ok()).is_some_and(|g| g < next);
            if older {
                if let Err(e) = self.location.delete_opt(&format!("{dir}/{name}")).await {
                    tracing::warn!(error = %e, "deleting an old lease generation");
                }
            }
        }
        Ok(next)
    }

    async fn write_beat(&self, day: &str, generation: u64, at_ms: i64, released: bool) -> Result<(), LeaseError> {
        let body = serde_json::to_vec(&Beat { at_ms, released }).unwrap_or_default();
        self.location
            .put_atomic(&format!("{}/{}", day_dir(day), beat_name(generation)), &body)
            .await?;
        Ok(())
    }

    /// The heartbeat: every held day's beat set to `now_ms`.
    pub async fn renew(&self, now_ms: i64) -> Result<(), LeaseError> {
        for h in &self.held {
            self.write_beat(&h.day, h.generation, now_ms, false).await?;
        }
        Ok(())
    }

    /// Every held day is still this run's: no newer generation was claimed.
    pub async fn check(&self) -> Result<(), LeaseError> {
        for h in &self.held {
            let gens = generations(&self.location, &h.day).await?;
            if let Some(&newest) = gens.last().filter(|&&g| g > h.generation) {
                let by: Option<Claim> = read_json(&self.location, &format!("{}/{}", day_dir(&h.day), claim_name(newest))).await?;
                return Err(LeaseError::Lost {
                    day: h.day.clone(),
                    by: by.map(|c| c.run_id).unwrap_or_else(|| "(unknown)".into()),
                });
            }
        }
        Ok(())
    }

    /// Let go of every held day (the next run may claim it at once). Days taken over by another
    /// run in the meantime are left alone.
    pub async fn release(&self, now_ms: i64) -> Result<(), LeaseError> {
        for h in &self.held {
            let newest = generations(&self.location, &h.day).await?.last().copied();
            if newest == Some(h.generation) {
                self.write_beat(&h.day, h.generation, now_ms, true).await?;
            }
        }
        Ok(())
    }

    /// Days held.
    pub fn days(&self) -> Vec<String> {
        self.held.iter().map(|h| h.day.clone()).collect()
    }

    /// The holder's run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// How often the heartbeat should beat: a third of the time to live (so two missed beats
    /// still leave the lease held), at least a second.
    pub fn beat_every(&self) -> std::time::Duration {
        std::time::Duration::from_millis((self.ttl_ms / 3).max(1000) as u64)
    }
}

fn busy(day: &str, c: &Claim, last_ms: i64, expires_ms: i64) -> LeaseError {
    LeaseError::Busy {
        day: day.to_string(),
        holder: c.run_id.clone(),
        job: c.job.clone(),
        host: c.host.clone(),
        beat: rfc3339(last_ms),
        expires: rfc3339(expires_ms),
    }
}

/// This host's name, for the holder's description (`HOSTNAME`, else `/etc/hostname`).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: i64 = 60_000;

    async fn folder() -> (tempfile::TempDir, Location) {
        let dir = tempfile::tempdir().unwrap();
        let loc = Location::open(dir.path().to_str().unwrap(), &Default::default(), true)
            .await
            .unwrap();
        (dir, loc)
    }

    fn opts(take_over: bool) -> LeaseOptions {
        LeaseOptions { ttl_ms: TTL, take_over }
    }

    fn days(d: &[&str]) -> Vec<String> {
        d.iter().map(|s| s.to_string()).collect()
    }

    /// Proves the lease's decisions on a local folder with injected times: a held day is busy
    /// for a second run (and the message names the holder), free after a release, free after
    /// the time to live without a heartbeat but not before (a heartbeat extends it), claimable
    /// at once with take-over, and the taken-over holder's check fails (it must not publish).
    #[tokio::test]
    async fn a_day_is_held_by_one_run_until_released_or_expired() {
        let (_d, loc) = folder().await;
        let d = days(&["2025-03-28"]);
        let a = Leases::acquire(&loc, &d, "run-a", "job", 1_000, opts(false)).await.unwrap();
        let e = Leases::acquire(&loc, &d, "run-b", "job", 2_000, opts(false)).await.unwrap_err();
        assert!(matches!(&e, LeaseError::Busy { holder, .. } if holder == "run-a"), "{e}");
        assert!(e.to_string().contains("--take-over"), "{e}");
        a.check().await.unwrap();
        a.release(3_000).await.unwrap();
        let b = Leases::acquire(&loc, &d, "run-b", "job", 4_000, opts(false)).await.unwrap();
        // b goes silent: busy just before its time to live ends, even after a heartbeat moved it.
        b.renew(10_000).await.unwrap();
        assert!(Leases::acquire(&loc, &d, "run-c", "job", 10_000 + TTL - 1, opts(false))
            .await
            .is_err());
        let c = Leases::acquire(&loc, &d, "run-c", "job", 10_000 + TTL, opts(false)).await.unwrap();
        match b.check().await.unwrap_err() {
            LeaseError::Lost { by, .. } => assert_eq!(by, "run-c"),
            e => panic!("{e}"),
        }
        // b's release must not free c's day.
        b.release(10_000 + TTL + 1).await.unwrap();
        assert!(Leases::acquire(&loc, &d, "run-d", "job", 10_000 + TTL + 2, opts(false))
            .await
            .is_err());
        let dd = Leases::acquire(&loc, &d, "run-d", "job", 10_000 + TTL + 3, opts(true))
            .await
            .unwrap();
        assert!(c.check().await.is_err());
        dd.check().await.unwrap();
        // Old generations are deleted by the newest claimant: one claim and one beat remain.
        assert_eq!(loc.list_files("_leases/dt=2025-03-28").await.unwrap().len(), 2);
    }

    /// Proves a range is claimed whole or not at all: when its second day is busy, the first
    /// day it had claimed is released again (a third run can take it).
    #[tokio::test]
    async fn a_busy_day_releases_the_days_claimed_before_it() {
        let (_d, loc) = folder().await;
        let _x = Leases::acquire(&loc, &days(&["2025-03-02"]), "run-x", "job", 1_000, opts(false))
            .await
            .unwrap();
        let e = Leases::acquire(&loc, &days(&["2025-03-01", "2025-03-02"]), "run-y", "job", 2_000, opts(false))
            .await
            .unwrap_err();
        assert!(matches!(&e, LeaseError::Busy { day, .. } if day == "2025-03-02"), "{e}");
        Leases::acquire(&loc, &days(&["2025-03-01"]), "run-z", "job", 3_000, opts(false))
            .await
            .unwrap();
    }

    /// Proves that of many runs racing for one free day exactly one claims it (the conditional
    /// create on a local folder: a hard link that fails when the name exists).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_runs_racing_for_a_day_exactly_one_wins() {
        let (_d, loc) = folder().await;
        let d = days(&["2025-03-28"]);
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (loc, d) = (loc.clone(), d.clone());
                tokio::spawn(async move {
                    match Leases::acquire(&loc, &d, &format!("run-{i}"), "job", 1_000, opts(false)).await {
                        Ok(_) => true,
                        Err(LeaseError::Busy { .. }) => false,
                        Err(e) => panic!("a racing claim failed otherwise than busy: {e}"),
                    }
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += t.await.unwrap() as usize;
        }
        assert_eq!(won, 1);
    }
}
