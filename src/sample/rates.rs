//! Expected benign levels of single entities: what the background of the world generates for a
//! principal, a host, an identity-provider user or a finding type on a day, on average.
//!
//! Scenario strengths are relative to these levels (`--scenarios kind=strength`), so an attack of
//! strength 2 is twice the entity's own normal whatever the lake's size. They are the means of the
//! generating process (before its day-to-day noise), computed from the same weights the
//! background draws from, not estimated from generated events.

use std::ops::Range;

use super::events::{HUMAN_HOURS, MACHINE_HOURS};
use super::world::{self, zipf_p, APIS, FINDING_TYPES};
use super::{GenCtx, Task};
use crate::lake::ocsf::{SourceKind, SourceVersion};

/// Share of external flows among a host's flows, and their mean size (bytes are
/// `exp(11·U) + 300`, `U` uniform).
const EXTERNAL_SHARE: f64 = 0.38;
/// Share of internal (east-west) flows among a host's flows.
const INTERNAL_SHARE: f64 = 0.55;
/// Share of failed identity-provider logins.
pub(crate) const IDP_FAILURE_SHARE: f64 = 0.03;

fn mean_external_bytes() -> f64 {
    // E[floor(exp(11 U))] + 300.
    (11f64.exp() - 1.0) / 11.0 - 0.5 + 300.0
}

/// Share of an hour profile that falls in `hours`.
pub fn hour_share(profile: &[f64; 24], hours: Range<u32>) -> f64 {
    let total: f64 = profile.iter().sum();
    hours.map(|h| profile[h as usize % 24]).sum::<f64>() / total
}

impl GenCtx<'_> {
    fn task(&self, kind: SourceKind, region: usize, account: usize, day: i64) -> Task {
        Task {
            kind,
            version: SourceVersion::V2,
            region,
            account,
            day,
            part: 0,
            parts: 1,
        }
    }

    /// Expected CloudTrail events of principal `p` of `account` in `region` on `day` (all APIs,
    /// all hours).
    pub fn principal_day_mean(&self, account: usize, region: usize, day: i64, p: usize) -> f64 {
        if let Some(r) = self.world.real.as_deref() {
            let h = &r.accounts[account].habits[p];
            let human = self.world.accounts[account].principals[p].human;
            return self.base_count(SourceKind::CloudTrailMgmt, region) * h.weight / r.accounts[account].weight_total
                * r.principal_factor(account, p, human, day);
        }
        let acct = &self.world.accounts[account];
        let total: f64 = acct.principals.iter().map(|p| p.weight).sum();
        let n = self.background_count(&self.task(SourceKind::CloudTrailMgmt, region, account, day)) as f64;
        n * acct.principals[p].weight / total
    }

    /// Share of principal `p`'s calls that are `operation`.
    pub fn principal_api_share(&self, account: usize, p: usize, operation: &str) -> f64 {
        if let Some(r) = self.world.real.as_deref() {
            let h = &r.accounts[account].habits[p];
            let w: f64 = APIS
                .iter()
                .zip(&h.api_w)
                .filter(|(a, _)| a.operation == operation)
                .map(|(_, w)| w)
                .sum();
            return w / h.api_total;
        }
        let total: f64 = self.world.api_weights.iter().sum();
        APIS.iter()
            .zip(&self.world.api_weights)
            .filter(|(a, _)| a.operation == operation)
            .map(|(_, w)| w)
            .sum::<f64>()
            / total
    }

    /// Share of principal `p`'s calls in the UTC hours `hours` of a day.
    pub fn principal_hour_share(&self, account: usize, p: usize, hours: Range<u32>) -> f64 {
        if let Some(r) = self.world.real.as_deref() {
            return hour_share(&r.accounts[account].habits[p].hours, hours);
        }
        let human = self.world.accounts[account].principals[p].human;
        hour_share(if human { &HUMAN_HOURS } else { &MACHINE_HOURS }, hours)
    }

    /// Expected calls of `operation` by principal `p` in `hours` of `day`.
    pub fn principal_op_mean(&self, account: usize, region: usize, day: i64, p: usize, operation: &str, hours: Range<u32>) -> f64 {
        self.principal_day_mean(account, region, day, p)
            * self.principal_api_share(account, p, operation)
            * self.principal_hour_share(account, p, hours)
    }

    /// Expected failed identity-provider logins of person `p` of `account` on `day`.
    pub fn idp_failures_mean(&self, account: usize, p: usize, day: i64) -> f64 {
        if self.world.real.is_some() {
            return self.idp_logins_mean(account, p, day) * IDP_FAILURE_SHARE;
        }
        let people = self.world.accounts.iter().flat_map(|a| a.principals.iter().filter(|p| p.human));
        let total: f64 = people.map(|p| p.weight).sum();
        let n = self.background_count(&self.task(SourceKind::ExtAuthentication, 0, 0, day)) as f64;
        n * self.world.accounts[account].principals[p].weight / total * IDP_FAILURE_SHARE
    }

    /// Expected VPC flows with host `h` as the source (or, for scans, the target) on `day`.
    pub fn host_flows_mean(&self, account: usize, region: usize, day: i64, h: usize) -> f64 {
        if let Some(r) = self.world.real.as_deref() {
            let ra = &r.accounts[account];
            return self.base_count(SourceKind::VpcFlow, region) * ra.hosts[h].weight / ra.host_weight_total
                * r.host_factor(account, h, day);
        }
        let hosts = self.world.accounts[account].hosts.len();
        let n = self.background_count(&self.task(SourceKind::VpcFlow, region, account, day)) as f64;
        n * zipf_p(h, hosts, 1.1)
    }

    /// Expected bytes host `h` sends to external addresses on `day`.
    pub fn host_external_bytes_mean(&self, account: usize, region: usize, day: i64, h: usize) -> f64 {
        self.host_flows_mean(account, region, day, h) * EXTERNAL_SHARE * mean_external_bytes()
    }

    /// Expected flows from host `h` to its most-contacted external address on `day`.
    pub fn host_top_external_flows_mean(&self, account: usize, region: usize, day: i64, h: usize) -> f64 {
        // The realistic world sends a share of the external flows to fresh addresses instead.
        let kept = if self.world.real.is_some() {
            1.0 - super::realistic::FRESH_SHARE
        } else {
            1.0
        };
        self.host_flows_mean(account, region, day, h) * EXTERNAL_SHARE * zipf_p(0, self.world.external_ips.len(), 1.05) * kept
    }

    /// Expected distinct internal hosts host `h` connects to in `hours` of `day`.
    pub fn host_internal_peers_mean(&self, account: usize, region: usize, day: i64, h: usize, hours: Range<u32>) -> f64 {
        let n_hosts = self.world.accounts[account].hosts.len() as f64;
        let profile = match self.world.real.as_deref() {
            Some(r) => &r.accounts[account].hosts[h].hours,
            None => &MACHINE_HOURS,
        };
        let k = self.host_flows_mean(account, region, day, h) * INTERNAL_SHARE * hour_share(profile, hours);
        n_hosts * (1.0 - (1.0 - 1.0 / n_hosts).powf(k))
    }

    /// Expected distinct domains host `h` resolves on `day`.
    pub fn host_domains_mean(&self, account: usize, region: usize, day: i64, h: usize) -> f64 {
        let hosts = self.world.accounts[account].hosts.len();
        let k = match self.world.real.as_deref() {
            Some(r) => {
                let ra = &r.accounts[account];
                self.base_count(SourceKind::Route53, region) * ra.hosts[h].weight / ra.host_weight_total * r.host_factor(account, h, day)
            }
            None => self.background_count(&self.task(SourceKind::Route53, region, account, day)) as f64 * zipf_p(h, hosts, 1.1),
        };
        let nd = self.world.domains.len();
        (0..nd).map(|d| 1.0 - (1.0 - zipf_p(d, nd, 1.1)).powf(k)).sum()
    }

    /// Expected Security Hub findings of type `ft` (index into [`FINDING_TYPES`]) in `account`
    /// and `region` on `day`.
    ///
    /// In the realistic world findings follow the account's resources (its hosts, whose
    /// controls Security Hub re-evaluates every day, and Inspector's weekly scan of them), not
    /// its API volume: below 100,000 events a day an account keeps the rates it has at 100,000
    /// ([`GenCtx::legacy_scale`]). With [`GenCtx::scale`] a demo-sized lake had about one
    /// finding of a type a week, 0.05% of its events, where compliance checks make findings a
    /// visible share of a real lake, and every finding-type series was too sparse to show a
    /// level shift or a trend at any strength.
    pub fn finding_day_mean(&self, _account: usize, region: usize, day: i64, ft: usize) -> f64 {
        if let Some(r) = self.world.real.as_deref() {
            let (prod, ..) = FINDING_TYPES[ft];
            let weekly = match prod {
                "Inspector" if (r.weekday0 as i64 + day).rem_euclid(7) == 0 => 3.0,
                "Inspector" => 2.0 / 3.0,
                "Security Hub" if r.releases.contains(&(day - 1)) => 2.0,
                _ => 1.0,
            };
            return FINDING_TYPES[ft].3 * self.legacy_scale() * self.region_weight(region) * self.cfg.regions.len() as f64 / 2.0 * weekly;
        }
        FINDING_TYPES[ft].3 * self.finding_scale(region)
    }

    /// The mean of [`Self::finding_day_mean`] over the week that starts on `day`: a finding
    /// type's usual level a day, weekly scans and release days included (what a level shift or
    /// a trend is sized against, so the label's baseline is the series' level, not its busiest
    /// day).
    pub fn finding_week_mean(&self, account: usize, region: usize, day: i64, ft: usize) -> f64 {
        (day..day + 7).map(|d| self.finding_day_mean(account, region, d, ft)).sum::<f64>() / 7.0
    }

    /// The user agent of principal `p`'s usual traffic on `day` when it differs from its
    /// `user_agent` (the realistic world's upgrades); attacks that reuse the principal's own
    /// session take it from here.
    pub fn own_agent(&self, account: usize, p: usize, day: i64) -> Option<&'static str> {
        self.world.real.is_some().then(|| self.principal_agent(account, p, day))
    }

    /// The source address principal `p` uses on `day` for its usual traffic (attacks that reuse
    /// the principal's own network take it from here).
    pub fn principal_ip<R: rand::Rng>(&self, account: usize, p: usize, day: i64, rng: &mut R) -> String {
        if self.world.real.is_some() {
            let ips = self.principal_ips(account, p, day);
            let w: Vec<f64> = ips.iter().map(|x| x.1).collect();
            return ips[world::pick_weighted(rng, &w, w.iter().sum())].0.clone();
        }
        self.world.accounts[account].principals[p].ips[0].clone()
    }

    /// Multiplier of the findings' absolute daily rates in `region`.
    pub(crate) fn finding_scale(&self, region: usize) -> f64 {
        self.legacy_scale() * self.region_weight(region) * self.cfg.regions.len() as f64 / 2.0
    }
}

impl GenCtx<'_> {
    /// Events a day of `kind` in one account and region before any day factor (realistic world:
    /// what principals' and hosts' weights share out).
    pub(crate) fn base_count(&self, kind: SourceKind, region: usize) -> f64 {
        let per = self.cfg.events_per_day as f64 * super::share(kind);
        if kind == SourceKind::ExtAuthentication {
            per
        } else {
            per * self.region_weight(region) / self.cfg.accounts as f64
        }
    }

    /// Expected identity-provider logins of person `p` of `account` on `day` (realistic world).
    pub fn idp_logins_mean(&self, account: usize, p: usize, day: i64) -> f64 {
        let r = self.real();
        let total: f64 = r
            .accounts
            .iter()
            .enumerate()
            .flat_map(|(a, ra)| {
                ra.habits
                    .iter()
                    .enumerate()
                    .filter(move |(p, _)| self.world.accounts[a].principals[*p].human)
            })
            .map(|(_, h)| h.weight)
            .sum();
        let h = &r.accounts[account].habits[p];
        self.base_count(SourceKind::ExtAuthentication, 0) * h.weight / total * r.principal_factor(account, p, true, day)
    }
}
