//! Sharding a backfill over the children of an AWS Batch array job or the instances of a
//! multi-instance SageMaker Processing job: by day.
//!
//! Why by day, not by account, region or series family: the day is the unit everything is
//! published by — a findings partition, a lease (`sink::lease`), the conditions the next day
//! carries on — so a day split over two processes would need two writers of one partition and a
//! merge of their findings; days cost about the same, so a round-robin deal balances; and a
//! backfill is what needs sharding (a nightly run is one day).
//!
//! Child `i` of `n` runs days `i, i + n, i + 2n, …` of the range, each as the nightly run of that
//! day (a one-day plan), so an array backfill equals its days run one night at a time, finding
//! for finding. A day's conditions (new or ongoing) are read from the day before as it was
//! published, so each child computes its day while the others compute theirs, and publishes it
//! only once the day before is published by the same backfill (its `_published/dt=<day>.json`
//! entry names the backfill's group; stages that carry state from the day before wait before
//! they start). All children must therefore run at once — an array job whose children wait for
//! capacity behind a waiting child stops after [`WAIT`] with exit 75 (retried later, it finds the
//! days before it published). The child that publishes the range's last day writes the
//! backfill's manifest and report under `runs/backfill-<group>/`. The children must share the
//! output (`s3://`); a retried child skips the days its backfill already published.

use chrono::NaiveDate;

/// How long a child waits for the day before its own to be published.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// This process's share of a backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index among the children.
    pub index: usize,
    /// How many children.
    pub count: usize,
    /// What the children share: the array job's id (Batch), the processing job's name
    /// (SageMaker). Recorded with every day a child publishes.
    pub group: String,
}

impl Shard {
    /// The shard from AWS Batch's array variables (`AWS_BATCH_JOB_ARRAY_INDEX`,
    /// `AWS_BATCH_JOB_ARRAY_SIZE`, the group from `AWS_BATCH_JOB_ID` without its `:index`), or
    /// from a SageMaker Processing job's host rank and instance count; `None` for a single
    /// process. `env` reads a variable (the process environment in the binary).
    pub fn detect(
        env: impl Fn(&str) -> Option<String>,
        sagemaker: Option<&super::container::ProcessingJob>,
    ) -> Result<Option<Shard>, String> {
        if let Some(index) = env("AWS_BATCH_JOB_ARRAY_INDEX") {
            let num = |name: &str, v: &str| v.trim().parse::<usize>().map_err(|e| format!("{name}={v:?}: {e}"));
            let index = num("AWS_BATCH_JOB_ARRAY_INDEX", &index)?;
            let size = env("AWS_BATCH_JOB_ARRAY_SIZE")
                .ok_or("AWS_BATCH_JOB_ARRAY_INDEX is set but AWS_BATCH_JOB_ARRAY_SIZE is not: set both (AWS Batch does)")?;
            let count = num("AWS_BATCH_JOB_ARRAY_SIZE", &size)?;
            if count == 0 || index >= count {
                return Err(format!(
                    "AWS_BATCH_JOB_ARRAY_INDEX {index} is not below AWS_BATCH_JOB_ARRAY_SIZE {count}"
                ));
            }
            let id = env("AWS_BATCH_JOB_ID").ok_or("an array child needs AWS_BATCH_JOB_ID (AWS Batch sets it)")?;
            let group = id.split(':').next().unwrap_or(&id).to_string();
            return Ok(Some(Shard { index, count, group }).filter(|s| s.count > 1));
        }
        Ok(sagemaker.filter(|j| j.instance_count > 1).map(|j| Shard {
            index: j.host_rank,
            count: j.instance_count,
            group: j.name.clone(),
        }))
    }

    /// This child's days of `range` (inclusive), in order.
    pub fn days(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        from.iter_days()
            .take_while(|d| *d <= to)
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index)
            .map(|(_, d)| d)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    /// Proves Batch's array variables are read (the group without the child's `:index`), a
    /// one-child array is no shard, bad values are clear errors, and three children deal a
    /// 7-day range round-robin, every day exactly once.
    #[test]
    fn batch_array_children_deal_the_days_round_robin() {
        let s = Shard::detect(
            env(&[
                ("AWS_BATCH_JOB_ARRAY_INDEX", "1"),
                ("AWS_BATCH_JOB_ARRAY_SIZE", "3"),
                ("AWS_BATCH_JOB_ID", "4c7e:1"),
            ]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.group, "4c7e");
        let d = |n| NaiveDate::from_ymd_opt(2025, 3, n).unwrap();
        assert_eq!(s.days(d(1), d(7)), vec![d(2), d(5)]);
        let all: Vec<NaiveDate> = (0..3).flat_map(|index| Shard { index, ..s.clone() }.days(d(1), d(7))).collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(sorted, (1..=7).map(d).collect::<Vec<_>>());
        assert_eq!(all.len(), 7);
        let one = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "1"),
            ("AWS_BATCH_JOB_ID", "x:0"),
        ]);
        assert_eq!(Shard::detect(one, None).unwrap(), None);
        assert!(Shard::detect(
            env(&[
                ("AWS_BATCH_JOB_ARRAY_INDEX", "3"),
                ("AWS_BATCH_JOB_ARRAY_SIZE", "3"),
                ("AWS_BATCH_JOB_ID", "x")
            ]),
            None
        )
        .unwrap_err()
        .contains("not below"));
        assert!(Shard::detect(env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "0")]), None)
            .unwrap_err()
            .contains("ARRAY_SIZE"));
        assert_eq!(Shard::detect(env(&[]), None).unwrap(), None);
    }
}
