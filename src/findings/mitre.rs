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
    ("T1098", "Account Manipulation", &["Persistence", "Privilege Escalation"]),
    ("T1552", "Unsecured Credentials", &["Credential Access"]),
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

/// Name of a technique.
pub fn name(id: &str) -> Option<&'static str> {
    TECHNIQUES.iter().find(|(i, _, _)| *i == id).map(|(_, n, _)| *n)
}

#[cfg(test)]
mod tests {
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
