//! The broker's modules depend on each other one way only (DESIGN.md, "Layout"): a module may
//! use the modules below it, never one above, so no import circle can form. This test reads
//! every source file and fails naming the file and the import that runs upward.

use std::path::{Path, PathBuf};

/// The top-level modules of `broker/src`, bottom first. A module may import those before it.
const LAYERS: &[&[&str]] = &[
    // Test facilities (request capture, fault rules): they import nothing of the broker.
    &["inspect"],
    &["config"],
    &["clock", "error", "security"],
    &["metadata"],
    &["coordinator"],
    &["state"],
    &["context"],
    &["api"],
    &["protocol"],
    &["net"],
    // Snapshots for tests read the state, the topics and the coordinators.
    &["server", "snapshot"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module a source file belongs to: `api` for `src/api/produce.rs`, `server`
/// for `src/server.rs`; `None` for `lib.rs`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The top-level modules `line` names through `crate::`, comments left out.
fn imported_modules(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter_map(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

#[test]
fn imports_only_run_downward() -> std::io::Result<()> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files)?;
    let mut upward = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let own = rank(&module).unwrap_or_else(|| {
            panic!("{}: module {module} has no layer in LAYERS", file.display())
        });
        let text = std::fs::read_to_string(file)?;
        // Unit tests may reach anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (number, line) in code.lines().enumerate() {
            for imported in imported_modules(line) {
                let Some(theirs) = rank(&imported) else {
                    continue;
                };
                if theirs > own {
                    upward.push(format!(
                        "{}:{}: {module} imports {imported}",
                        file.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run upward:\n{}",
        upward.join("\n")
    );
    assert!(files.len() > 50, "only {} source files found", files.len());
    Ok(())
}
