//! One condition, one finding: a trend, level shift or recurring anomaly of one entity that lasts
//! several days is one *condition*, however many daily findings it produces.
//!
//! A condition is identified by what stays the same while it lasts — detector, series family,
//! bucket width, the series' keys and the kind of anomaly (`increasing`, `spike`, …) — hashed into
//! [`condition_id`]. A finding is
//! - `new` when it is the condition's first finding: none of the same condition on the previous
//!   day, and no earlier one on the same day;
//! - `ongoing` otherwise; it carries the day the condition began (`first_seen`) and for how many
//!   consecutive days it has been seen (`condition_days`).
//!
//! A condition seen on the previous day and not on this one is *resolved* on this day
//! ([`Resolved`]; listed in the report and the manifest).
//!
//! Why one day of look-back is enough and reruns stay exact: the state of day D is a function of
//! day D's findings and day D−1's *published* findings only (their `condition_id`, `first_seen`,
//! `condition_days`). The nightly run of D reads D−1 from the output; a rerun of D reads the same
//! file; a range run reads the day before its first day from the output and then carries each day
//! to the next in memory, which is what the nightly runs of those days did one after the other.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use super::Finding;

/// `new`: the condition's first finding.
pub const NEW: &str = "new";
/// `ongoing`: a later finding of a condition already reported.
pub const ONGOING: &str = "ongoing";

/// Where a finding stands in its condition (filled by [`assign`]).
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct Condition {
    /// SHA-256 prefix of detector, series family, bucket, keys and kind.
    pub id: String,
    /// `new` or `ongoing`.
    pub status: String,
    /// Window start of the condition's first finding, epoch ms.
    pub first_seen_ms: i64,
    /// Consecutive days (up to and including this finding's day) with a finding of the condition.
    pub days: i32,
}

/// What a published day says about one condition (read back from the previous day's findings).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Condition id.
    pub id: String,
    /// Window start of its first finding, epoch ms.
    pub first_seen_ms: i64,
    /// Consecutive days seen, up to that day.
    pub days: i32,
    /// Detector name.
    pub detector: String,
    /// Title of the day's strongest finding of the condition.
    pub title: String,
    /// Entity of the condition.
    pub entity: String,
}

/// A condition seen on the previous day and not on this one.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct Resolved {
    /// Day it was no longer seen, `YYYY-MM-DD`.
    pub dt: String,
    /// Condition id.
    pub condition_id: String,
    /// Detector name.
    pub detector: String,
    /// Entity.
    pub entity: String,
    /// Title of its last finding.
    pub title: String,
    /// Window start of its first finding, epoch ms.
    pub first_seen_ms: i64,
    /// Days it lasted.
    pub days: i32,
}

/// The condition a finding belongs to: detector, series family, bucket, keys (as the canonical
/// JSON object the finding stores) and kind.
pub fn condition_id(f: &Finding) -> String {
    id_of(&f.detector, &f.series_family, &f.bucket, &f.entity_keys, &f.kind)
}

fn id_of(detector: &str, series_family: &str, bucket: &str, entity_keys: &str, kind: &str) -> String {
    let mut h = Sha256::new();
    let keys: serde_json::Value = serde_json::from_str(entity_keys).unwrap_or(serde_json::Value::Null);
    // serde_json's map is ordered, so the text is canonical whatever order the keys were written in.
    let keys = keys.to_string();
    for part in [detector, series_family, bucket, &keys, kind] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// A published finding as read back from the output: what [`seen_of`] needs.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// `condition_id` (absent in outputs written before conditions existed).
    pub condition_id: Option<String>,
    /// `first_seen`, epoch ms.
    pub first_seen_ms: Option<i64>,
    /// `condition_days`.
    pub days: Option<i32>,
    /// Detector (the partition).
    pub detector: String,
    /// `series_family`.
    pub series_family: String,
    /// `bucket`.
    pub bucket: String,
    /// `entity_keys`.
    pub entity_keys: String,
    /// `kind`.
    pub kind: String,
    /// `window_start`, epoch ms.
    pub window_start_ms: i64,
    /// `title`.
    pub title: String,
    /// `entity`.
    pub entity: String,
    /// `score`.
    pub score: f64,
}

impl From<&Finding> for Published {
    fn from(f: &Finding) -> Published {
        let known = !f.condition.id.is_empty();
        Published {
            condition_id: known.then(|| f.condition.id.clone()),
            first_seen_ms: known.then_some(f.condition.first_seen_ms),
            days: known.then_some(f.condition.days),
            detector: f.detector.clone(),
            series_family: f.series_family.clone(),
            bucket: f.bucket.clone(),
            entity_keys: f.entity_keys.clone(),
            kind: f.kind.clone(),
            window_start_ms: f.window_start_ms,
            title: f.title.clone(),
            entity: f.entity.clone(),
            score: f.score,
        }
    }
}

fn day_before(dt: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(dt, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.pred_opt())
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// Fill `condition` of every finding of `days` (sorted, consecutive or not), given what the day
/// before the first of them published (`before`), and return the conditions resolved on each day.
/// Days of `days` with no findings still resolve what the previous day had.
pub fn assign(findings: &mut [Finding], days: &[String], before: &[Seen]) -> Vec<Resolved> {
    let mut order: Vec<String> = days.to_vec();
    order.extend(findings.iter().map(|f| f.dt.clone()));
    order.sort();
    order.dedup();

    let mut resolved = Vec::new();
    // State published by the previous day processed: condition id → what it said.
    let mut prev_day: Option<String> = order.first().and_then(|d| day_before(d));
    let mut prev: HashMap<String, Seen> = before.iter().map(|s| (s.id.clone(), s.clone())).collect();
    for day in &order {
        // Only a condition of the calendar day before counts as carried on.
        if prev_day.as_deref() != day_before(day).as_deref() {
            prev.clear();
        }
        let mut idx: Vec<usize> = findings.iter().enumerate().filter(|(_, f)| &f.dt == day).map(|(i, _)| i).collect();
        // Earliest first; ties by id so the choice of the `new` one is deterministic.
        idx.sort_by(|&a, &b| {
            findings[a]
                .window_start_ms
                .cmp(&findings[b].window_start_ms)
                .then_with(|| findings[a].finding_id.cmp(&findings[b].finding_id))
        });
        let mut today: HashMap<String, Seen> = HashMap::new();
        let mut best: HashMap<String, f64> = HashMap::new();
        for i in idx {
            let f = &mut findings[i];
            let id = condition_id(f);
            let status = if today.contains_key(&id) || prev.contains_key(&id) {
                ONGOING
            } else {
                NEW
            };
            let seen = today.entry(id.clone()).or_insert_with(|| match prev.get(&id) {
                Some(p) => Seen {
                    id: id.clone(),
                    first_seen_ms: p.first_seen_ms,
                    days: p.days.saturating_add(1),
                    detector: f.detector.clone(),
                    title: f.title.clone(),
                    entity: f.entity.clone(),
                },
                None => Seen {
                    id: id.clone(),
                    first_seen_ms: f.window_start_ms,
                    days: 1,
                    detector: f.detector.clone(),
                    title: f.title.clone(),
                    entity: f.entity.clone(),
                },
            });
            let b = best.entry(id.clone()).or_insert(f64::NEG_INFINITY);
            if f.score > *b {
                *b = f.score;
                seen.title = f.title.clone();
            }
            f.condition = Condition {
                id,
                status: status.into(),
                first_seen_ms: seen.first_seen_ms,
                days: seen.days,
            };
        }
        let gone: BTreeSet<&String> = prev.keys().filter(|k| !today.contains_key(*k)).collect();
        for k in gone {
            let p = &prev[k];
            resolved.push(Resolved {
                dt: day.clone(),
                condition_id: p.id.clone(),
                detector: p.detector.clone(),
                entity: p.entity.clone(),
                title: p.title.clone(),
                first_seen_ms: p.first_seen_ms,
                days: p.days,
            });
        }
        prev = today;
        prev_day = Some(day.clone());
    }
    resolved.sort_by(|a, b| {
        a.dt.cmp(&b.dt)
            .then(a.detector.cmp(&b.detector))
            .then(a.condition_id.cmp(&b.condition_id))
    });
    resolved
}

/// What a day's published findings say about their conditions: one [`Seen`] per condition.
/// Findings written before conditions existed have no id; theirs is computed from their columns
/// and they count as one day.
pub fn seen_of(rows: &[Published]) -> Vec<Seen> {
    let mut out: BTreeMap<String, (f64, Seen)> = BTreeMap::new();
    for f in rows {
        let id = f
            .condition_id
            .clone()
            .unwrap_or_else(|| id_of(&f.detector, &f.series_family, &f.bucket, &f.entity_keys, &f.kind));
        let s = Seen {
            id: id.clone(),
            first_seen_ms: f.first_seen_ms.unwrap_or(f.window_start_ms),
            days: f.days.unwrap_or(1).max(1),
            detector: f.detector.clone(),
            title: f.title.clone(),
            entity: f.entity.clone(),
        };
        match out.get_mut(&id) {
            Some((score, cur)) => {
                cur.first_seen_ms = cur.first_seen_ms.min(s.first_seen_ms);
                cur.days = cur.days.max(s.days);
                if f.score > *score {
                    *score = f.score;
                    cur.title = s.title;
                }
            }
            None => {
                out.insert(id, (f.score, s));
            }
        }
    }
    out.into_values().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn f(id: &str, dt_day: i64, hour: i64, entity: &str, kind: &str) -> Finding {
        let start = 1_740_787_200_000 + dt_day * DAY + hour * 3_600_000; // 2025-03-01 + days
        Finding {
            finding_id: id.into(),
            run_id: "r".into(),
            detector: "trends".into(),
            detector_family: "trend".into(),
            series_family: "findings_by_type".into(),
            bucket: "day".into(),
            severity: "Low".into(),
            severity_id: 2,
            score: 3.0 + hour as f64,
            confidence: 0.9,
            entity_type: "finding_type".into(),
            entity: entity.into(),
            account_id: Some("111122223333".into()),
            entity_keys: format!(r#"{{"finding_type":"{entity}","accountid":"111122223333"}}"#),
            window_start_ms: start,
            window_end_ms: start + 3_600_000,
            observed: 1.0,
            expected: 0.0,
            lower_bound: 0.0,
            upper_bound: 0.0,
            deviation: 1.0,
            kind: kind.into(),
            top_features: "[]".into(),
            title: format!("{kind} {entity} {hour}"),
            description: String::new(),
            evidence: "{}".into(),
            investigation_sql: String::new(),
            mitre_techniques: vec![],
            mitre_tactics: vec![],
            source_view: String::new(),
            plot: None,
            dt: crate::series::dt(start),
            condition: Condition::default(),
        }
    }

    fn days(n: i64) -> Vec<String> {
        (0..n).map(|d| crate::series::dt(1_740_787_200_000 + d * DAY)).collect()
    }

    /// A condition lasting three days is one `new` finding then two `ongoing` ones carrying its
    /// first day and day count; a second finding of it on the same day is `ongoing`; a different
    /// kind on the same entity is its own condition; the day after it stops it is resolved.
    #[test]
    fn a_lasting_condition_is_new_once_then_ongoing_then_resolved() {
        let mut fs = vec![
            f("a", 0, 5, "X", "increasing"),
            f("b", 0, 9, "X", "increasing"),
            f("c", 1, 1, "X", "increasing"),
            f("d", 2, 1, "X", "increasing"),
            f("e", 1, 2, "X", "decreasing"),
        ];
        let r = assign(&mut fs, &days(4), &[]);
        let st: Vec<(&str, &str, i32)> = fs
            .iter()
            .map(|f| (f.finding_id.as_str(), f.condition.status.as_str(), f.condition.days))
            .collect();
        assert_eq!(
            st,
            [
                ("a", NEW, 1),
                ("b", ONGOING, 1),
                ("c", ONGOING, 2),
                ("d", ONGOING, 3),
                ("e", NEW, 1)
            ]
        );
        assert!(fs[..4]
            .iter()
            .all(|x| x.condition.first_seen_ms == fs[0].window_start_ms && x.condition.id == fs[0].condition.id));
        assert_ne!(fs[4].condition.id, fs[0].condition.id);
        let r: Vec<(&str, &str, i32)> = r.iter().map(|r| (r.dt.as_str(), r.entity.as_str(), r.days)).collect();
        assert_eq!(r, [(days(4)[2].as_str(), "X", 1), (days(4)[3].as_str(), "X", 3)]);
    }

    /// Running days one by one, each reading what the previous published (as nightly runs do),
    /// gives exactly what one range run gives; a day's gap starts the condition again.
    #[test]
    fn nightly_runs_and_a_range_run_agree_and_a_gap_starts_again() {
        let all = || {
            vec![
                f("a", 0, 5, "X", "spike"),
                f("b", 1, 1, "X", "spike"),
                f("c", 3, 1, "X", "spike"),
                f("d", 1, 4, "Y", "spike"),
                f("e", 2, 4, "Y", "spike"),
            ]
        };
        let mut range = all();
        let rr = assign(&mut range, &days(4), &[]);
        let mut nightly = all();
        let mut nr = Vec::new();
        let mut published: Vec<Finding> = Vec::new();
        for d in days(4) {
            let mut today: Vec<Finding> = nightly.iter().filter(|x| x.dt == d).cloned().collect();
            nr.extend(assign(
                &mut today,
                std::slice::from_ref(&d),
                &seen_of(&published.iter().map(Published::from).collect::<Vec<_>>()),
            ));
            for t in &today {
                let slot = nightly.iter_mut().find(|x| x.finding_id == t.finding_id).unwrap();
                *slot = t.clone();
            }
            published = today;
        }
        assert_eq!(
            range.iter().map(|x| &x.condition).collect::<Vec<_>>(),
            nightly.iter().map(|x| &x.condition).collect::<Vec<_>>()
        );
        assert_eq!(rr, nr);
        let c = &range[2].condition;
        assert_eq!((c.status.as_str(), c.days, c.first_seen_ms), (NEW, 1, range[2].window_start_ms));
        assert_eq!((range[4].condition.status.as_str(), range[4].condition.days), (ONGOING, 2));
    }

    /// Findings read back from an output written before conditions existed still carry on.
    #[test]
    fn findings_without_a_condition_are_read_as_one_day() {
        let old = vec![f("a", 0, 5, "X", "spike")];
        let mut today = vec![f("b", 1, 2, "X", "spike")];
        assign(
            &mut today,
            &days(2)[1..],
            &seen_of(&old.iter().map(Published::from).collect::<Vec<_>>()),
        );
        assert_eq!((today[0].condition.status.as_str(), today[0].condition.days), (ONGOING, 2));
        assert_eq!(today[0].condition.first_seen_ms, old[0].window_start_ms);
    }
}
