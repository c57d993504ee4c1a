//! MITRE ATT&CK (Enterprise) techniques used by lakesight's series and detectors, with their tactics.
//!
//! Only the techniques lakesight emits are listed; ids and tactic names are ATT&CK v15.

/// (technique id, name, tactics).
pub const TECHNIQUES: &[(&str, &str, &[&str])] = &[
    ("T1530", "Data from Cloud Storage", &["Collection"]),
    (
        "T1078.004",
        "Valid Accounts: Cloud Accounts",
        &["Defense Evasion", "Persistence", "Privilege Escalation", "Initial Access"],
    ),
    ("T1580", "Cloud Infrastructure Discovery", &["Discovery"]),
    ("T1069", "Permission Groups Discovery", &["Discovery"]),
    ("T1190", "Exploit Public-Facing Application", &["Initial Access"]),
    ("T1048", "Exfiltration Over Alternative Protocol", &["Exfiltration"]),
    ("T1041", "Exfiltration Over C2 Channel", &["Exfiltration"]),
    ("T1021", "Remote Services", &["Lateral Movement"]),
    ("T1046", "Network Service Discovery", &["Discovery"]),
    (
        "T1568.002",
        "Dynamic Resolution: Domain Generation Algorithms",
        &["Command and Control"],
    ),
    ("T1071.004", "Application Layer Protocol: DNS", &["Command and Control"]),
    ("T1071.001", "Application Layer Protocol: Web Protocols", &["Command and Control"]),
    ("T1110", "Brute Force", &["Credential Access"]),
    ("T1110.001", "Brute Force: Password Guessing", &["Credential Access"]),
    ("T1098", "Account Manipulation", &["Persistence", "Privilege Escalation"]),
    ("T1552", "Unsecured Credentials", &["Credential Access"]),
    (
        "T1552.005",
        "Unsecured Credentials: Cloud Instance Metadata API",
        &["Credential Access"],
    ),
    ("T1087.004", "Account Discovery: Cloud Account", &["Discovery"]),
];

/// Distinct tactics of `techniques`, in first-seen order.
pub fn tactics(techniques: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in techniques {
        if let Some((_, _, tac)) = TECHNIQUES.iter().find(|(id, _, _)| id == t) {
            for x in *tac {
                if !out.iter().any(|o| o == x) {
                    out.push((*x).to_string());
                }
            }
        }
    }
    out
}

/// One row of a run's ATT&CK coverage: a (tactic, technique) the job's stages can report, or
/// one its findings carry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    /// Tactic.
    pub tactic: String,
    /// Technique id.
    pub technique: String,
    /// Technique name.
    pub name: String,
    /// The stages that can report it.
    pub stages: Vec<String>,
    /// Findings of the run that carry it.
    pub findings: usize,
}

/// The tactic × technique coverage of a run: for every technique in [`TECHNIQUES`] some stage
/// can report (`stage_techniques`: stage → techniques) or some finding carries, one row per
/// tactic it belongs to, in the table's order.
pub fn coverage(stage_techniques: &[(String, Vec<String>)], finding_techniques: &[Vec<String>]) -> Vec<Coverage> {
    let mut out = Vec::new();
    for (id, name, tactics) in TECHNIQUES {
        let stages: Vec<String> = stage_techniques
            .iter()
            .filter(|(_, t)| t.iter().any(|x| x == id))
            .map(|(s, _)| s.clone())
            .collect();
        let findings = finding_techniques.iter().filter(|t| t.iter().any(|x| x == id)).count();
        if stages.is_empty() && findings == 0 {
            continue;
        }
        for tac in *tactics {
            out.push(Coverage {
                tactic: tac.to_string(),
                technique: id.to_string(),
                name: name.to_string(),
                stages: stages.clone(),
                findings,
            });
        }
    }
    out.sort_by(|a, b| a.tactic.cmp(&b.tactic).then(a.technique.cmp(&b.technique)));
    out
}

/// Name of a technique.
pub fn name(id: &str) -> Option<&'static str> {
    TECHNIQUES.iter().find(|(i, _, _)| *i == id).map(|(_, n, _)| *n)
}

/// The ATT&CK version the ids and names above are from (OCSF `attack.version`).
pub const ATTACK_VERSION: &str = "v15";

/// ATT&CK Enterprise tactic ids by name.
pub const TACTICS: &[(&str, &str)] = &[
    ("Reconnaissance", "TA0043"),
    ("Resource Development", "TA0042"),
    ("Initial Access", "TA0001"),
    ("Execution", "TA0002"),
    ("Persistence", "TA0003"),
    ("Privilege Escalation", "TA0004"),
    ("Defense Evasion", "TA0005"),
    ("Credential Access", "TA0006"),
    ("Discovery", "TA0007"),
    ("Lateral Movement", "TA0008"),
    ("Collection", "TA0009"),
    ("Command and Control", "TA0011"),
    ("Exfiltration", "TA0010"),
    ("Impact", "TA0040"),
];

/// Id of a tactic (`TA0007` for Discovery); empty for a name not in [`TACTICS`].
pub fn tactic_id(name: &str) -> &'static str {
    TACTICS.iter().find(|(n, _)| *n == name).map(|(_, id)| *id).unwrap_or("")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_scenario_and_stage_technique_is_in_the_one_table() {
        // Every technique id written in the scenario and stage sources (quoted `"T…"`).
        for (file, src) in [
            ("sample/scenarios.rs", include_str!("../sample/scenarios.rs")),
            ("stages/ueba.rs", include_str!("../stages/ueba.rs")),
            ("stages/beaconing.rs", include_str!("../stages/beaconing.rs")),
            ("stages/exfiltration.rs", include_str!("../stages/exfiltration.rs")),
            ("stages/lateral.rs", include_str!("../stages/lateral.rs")),
            ("stages/dns_hunt.rs", include_str!("../stages/dns_hunt.rs")),
        ] {
            let mut n = 0;
            for part in src.split("\"T1").skip(1) {
                let id: String = part.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
                if part[id.len()..].starts_with('"') && id.len() >= 3 {
                    let id = format!("T1{id}");
                    assert!(super::name(&id).is_some(), "{file}: {id} is not in the table");
                    n += 1;
                }
            }
            assert!(n > 0, "{file}: no technique ids found");
        }
        let cov = super::coverage(
            &[("hunt".into(), vec!["T1021".into(), "T1071.004".into()])],
            &[vec!["T1021".into()]],
        );
        let rows: Vec<(&str, &str, usize)> = cov.iter().map(|c| (c.tactic.as_str(), c.technique.as_str(), c.findings)).collect();
        assert_eq!(
            rows,
            vec![("Command and Control", "T1071.004", 0), ("Lateral Movement", "T1021", 1)]
        );
    }

    #[test]
    fn every_series_technique_is_known() {
        let c = crate::series::SeriesCatalog::builtin().unwrap();
        for n in c.names() {
            for t in &c.get(n).unwrap().mitre {
                assert!(super::name(t).is_some(), "{n}: {t} not in the table");
            }
        }
    }
}
