//! The layout's rules, checked on the source itself: the room core is pure,
//! and the layers import each other one way only. `cargo cycles` (run by
//! `scripts/test`) finds cycles between files from their `use` items; this
//! test also reads paths written inline (`crate::delivery::hub::polled(..)`)
//! and works a level up, on folders: each folder of `src/` (and each file at
//! its top) is one layer, and the graph of layers must be the one below.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every layer and the layers it may import, top down. A layer not listed
/// here fails the test, so a new folder has to be placed deliberately.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "server",
        &[
            "backplane",
            "config",
            "core",
            "delivery",
            "http",
            "metrics",
            "room_server",
            "transport",
        ],
    ),
    (
        "transport",
        &[
            "core",
            "delivery",
            "http",
            "metrics",
            "protocol",
            "room_server",
        ],
    ),
    (
        "http",
        &[
            "config",
            "core",
            "delivery",
            "metrics",
            "protocol",
            "room_server",
        ],
    ),
    ("backplane", &["config", "core", "protocol"]),
    ("room_server", &["core", "delivery", "metrics", "protocol"]),
    ("delivery", &["core", "metrics"]),
    ("config", &["core", "protocol"]),
    ("metrics", &["protocol"]),
    ("core", &["protocol"]),
    ("protocol", &[]),
];

/// Crates the core must not name: it has no actor, no runtime, no network.
const NOT_IN_CORE: &[&str] = &[
    "actix",
    "actix_web",
    "actix_rt",
    "actix_http",
    "actix_web_actors",
    "tokio",
    "redis",
    "std::net",
    "std::fs",
    "std::thread",
    "std::process",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without its comments and without an inline test module
/// (last in its file by convention), which may start the whole server.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).expect("a source file is readable");
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The layer a file belongs to: its top folder under src/, or its name.
fn layer(src: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(src).expect("under src/");
    let first = relative.components().next().expect("a path");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// The layers a file's code names, by `crate::` paths.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        // `$crate::` and `parley_crate::` are not this crate's paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            // `crate::{a, b}`: each item of the group.
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let item: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !item.is_empty() {
                        found.insert(item);
                    }
                }
            }
        } else {
            found.insert(name);
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeMap<String, Vec<PathBuf>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, Vec<PathBuf>>> = BTreeMap::new();
    for path in files {
        let from = layer(&src, &path);
        if from == "lib" || from == "main" {
            continue;
        }
        let edges = graph.entry(from.clone()).or_default();
        for to in imports(&code(&path)) {
            if to != from {
                edges.entry(to).or_default().push(path.clone());
            }
        }
    }
    graph
}

#[test]
fn layers_import_only_the_layers_below_them() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (from, edges) in graph() {
        let Some(may) = allowed.get(from.as_str()) else {
            wrong.push(format!("{from}: a layer the layout does not place"));
            continue;
        };
        for (to, files) in edges {
            if !may.contains(&to.as_str()) {
                wrong.push(format!("{from} imports {to} in {files:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layout:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_allowed_layers_have_no_cycle() {
    // Each layer may import only layers listed after it.
    for (i, (from, may)) in ALLOWED.iter().enumerate() {
        for to in *may {
            let at = ALLOWED.iter().position(|(name, _)| name == to);
            assert!(
                at.is_some_and(|at| at > i),
                "{from} may import {to}, which is not below it"
            );
        }
    }
}

#[test]
fn the_core_names_no_actor_runtime_or_io() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    sources(&core, &mut files);
    assert!(files.len() > 5, "the core's files are found");
    let mut wrong = Vec::new();
    for path in files {
        let code = code(&path);
        for name in NOT_IN_CORE {
            let named = code.match_indices(name).any(|(at, _)| {
                let before = code[..at].chars().last();
                let after = code[at + name.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if named {
                wrong.push(format!("{} names {name}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the core must stay pure:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checks_see_inline_and_grouped_paths() {
    let found = imports(
        "use crate::{core::ids, delivery};\nfn f() { crate::room_server::x(); $crate::no }",
    );
    let expected: BTreeSet<String> = ["core", "delivery", "room_server"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
}
