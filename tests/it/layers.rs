//! The direction of dependencies: lower layers never import higher ones (README, "Architecture").
//! This reads every `crate::<module>` path in the library's non-test code (comments skipped) and
//! fails on one that points up the order, naming the file and line.

use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may use its own layer and those below it.
const LAYERS: &[&[&str]] = &[
    &["store", "sql", "aws", "cancel", "clock", "table"],
    &["lake"],
    &["series", "sample"],
    &["detect"],
    &["findings"],
    &["stages"],
    &["sink", "output"],
    &["runtime"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level module a source file belongs to (`src/lake/athena.rs` → `lake`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// Every `(line number, used module)` of `crate::<module>` in the code before `#[cfg(test)]`.
fn uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start() == "#[cfg(test)]" && !line.starts_with(' ') {
            break;
        }
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            // `crate::{a, b}` groups: every name in the braces.
            if name.is_empty() && after.starts_with('{') {
                let group = &after[1..after.find('}').unwrap_or(after.len())];
                for part in group.split(',') {
                    let m: String = part.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !m.is_empty() {
                        out.push((n + 1, m));
                    }
                }
            } else if !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = after;
        }
    }
    out
}

fn violations(src: &Path) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut bad = Vec::new();
    for file in crate::common::files_under(src) {
        if file.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let module = module_of(src, &file);
        if module == "main" || module == "lib" {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| panic!("{}: module {module} is in no layer of LAYERS", file.display()));
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, used) in uses(&text) {
            let Some(r) = rank(&used) else { continue }; // a macro or type at the crate root
            checked += 1;
            if r > own {
                bad.push(format!("{}:{line}: {module} uses crate::{used}, a higher layer", file.display()));
            }
        }
    }
    (checked, bad)
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let (checked, bad) = violations(&src);
    assert!(checked > 100, "only {checked} crate:: paths found: the scan is broken");
    assert!(bad.is_empty(), "imports against the layer order:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_an_upward_import() {
    // The same checker on a file that breaks the order: a lake module using the runtime.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lake")).unwrap();
    std::fs::write(
        dir.path().join("lake/x.rs"),
        "//! crate::runtime in a comment is fine\nuse crate::{sql, runtime::config};\nfn f() { crate::store::x(); }\n#[cfg(test)]\nmod tests { use crate::runtime; }\n",
    )
    .unwrap();
    let (checked, bad) = violations(dir.path());
    assert_eq!(checked, 3, "{bad:?}");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("x.rs:2: lake uses crate::runtime"), "{bad:?}");
}
