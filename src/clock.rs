//! Where "now" comes from: an injected [`Clock`], so tests and reruns are reproducible (the run id
//! and the manifest's start time are the only things a run takes from it).

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    /// Current time, epoch ms.
    fn now_ms(&self) -> i64;
}

/// A day as given on the command line: `YYYY-MM-DD`, `today` or `yesterday` (UTC, by `clock`),
/// so a scheduler can say `--date yesterday` without computing it.
pub fn resolve_day(arg: &str, clock: &dyn Clock) -> Result<chrono::NaiveDate, String> {
    let today = chrono::DateTime::from_timestamp_millis(clock.now_ms())
        .ok_or_else(|| "the clock is out of range".to_string())?
        .date_naive();
    match arg.trim() {
        "today" => Ok(today),
        "yesterday" => today.pred_opt().ok_or_else(|| "no day before today".to_string()),
        d => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|e| format!("{d:?} is not a day (YYYY-MM-DD, today or yesterday): {e}")),
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A fixed clock for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves `--date` words against a fixed clock just after midnight UTC on 2026-12-05:
    /// yesterday is the 4th (not the 3rd, as a local-time zone west of UTC could make it).
    #[test]
    fn day_words_resolve_in_utc() {
        let c = FixedClock(1_764_892_860_000); // 2025-12-05T00:01:00Z
        let d = |s: &str| resolve_day(s, &c);
        assert_eq!(d("yesterday").unwrap().to_string(), "2025-12-04");
        assert_eq!(d("today").unwrap().to_string(), "2025-12-05");
        assert_eq!(d("2025-03-20").unwrap().to_string(), "2025-03-20");
        assert!(d("2025-02-30").unwrap_err().contains("not a day"));
        assert!(d("tomorrow").is_err());
    }
}
