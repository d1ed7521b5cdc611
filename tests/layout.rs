//! The layout's rules, checked on the source itself: the room core is pure,
//! no two files import each other (directly or round a longer loop), and
//! the layers import each other one way only: each folder of `src/` (and
//! each file at its top) is one layer, and the graph of layers must be the
//! one below. Imports are read from `crate::` and `super::` paths, in `use`
//! items and written inline (`crate::delivery::hub::polled(..)`) alike.
//! Why this is a test of our own and not a published tool: see
//! docs/DECISIONS.md, "Layout".

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every layer and the layers it may import, top down. A layer not listed
/// here fails the test, so a new folder has to be placed deliberately.
const ALLOWED: &[(&str, &[&str])] = &[
    ("cli", &["config", "deploy"]),
    ("deploy", &["config", "server"]),
    // The fuzz targets' entry points: beside the server, above the parsers.
    (
        "fuzzing",
        &["config", "core", "http", "protocol", "transport"],
    ),
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
            "config",
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
    ("doctor", &["config", "core"]),
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

/// A file's module path (`delivery::hub` for `src/delivery/hub.rs` and
/// `core` for `src/core/mod.rs`).
fn module_of(src: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(src).expect("under src/");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Every module path a file's code names, absolute (`super::` resolved
/// against `module`), with the items of `{..}` groups spelled out.
fn paths(code: &str, module: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(['c', 's']) {
        let before = rest[..at].chars().last();
        rest = &rest[at..];
        let base: Vec<&str> = if let Some(tail) = rest.strip_prefix("crate::") {
            rest = tail;
            Vec::new()
        } else if rest.starts_with("super::") {
            let mut base: Vec<&str> = module.split("::").collect();
            while let Some(tail) = rest.strip_prefix("super::") {
                base.pop();
                rest = tail;
            }
            base
        } else {
            rest = &rest[1..];
            continue;
        };
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let head: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let head = head.trim_end_matches(':');
        let prefix: Vec<&str> = base
            .iter()
            .copied()
            .chain(head.split("::"))
            .filter(|p| !p.is_empty())
            .collect();
        let after = &rest[head.len()..];
        if let Some(group) = after
            .strip_prefix("::{")
            .or_else(|| after.strip_prefix('{'))
        {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                // A nested group names its module; its items stay in it.
                let item = item.split(['{', ' ']).find(|p| !p.is_empty()).unwrap_or("");
                let item = item.trim_end_matches("::");
                let mut full = prefix.clone();
                if !item.is_empty() && item != "self" {
                    full.extend(item.split("::"));
                }
                found.push(full.join("::"));
            }
        } else {
            found.push(prefix.join("::"));
        }
    }
    found
}

#[test]
fn no_files_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .map(|path| (module_of(&src, path), path.clone()))
        .filter(|(module, _)| module != "lib" && module != "main")
        .collect();
    // A path names the longest module that is a file; the rest is items.
    let target = |path: &str| {
        let parts: Vec<&str> = path.split("::").collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &modules {
        let to: BTreeSet<String> = paths(&code(path), module)
            .iter()
            .filter_map(|p| target(p))
            .filter(|t| t != module && !t.starts_with(&format!("{module}::")))
            .filter(|t| !module.starts_with(&format!("{t}::")))
            .collect();
        edges.insert(module, to);
    }
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 50,
        "imports are read"
    );
    // Depth-first search; a module met again while on the stack closes a cycle.
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<&str, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| *s == m) {
            let mut cycle: Vec<String> = stack[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if !done.insert(m) {
            return None;
        }
        stack.push(m);
        for next in edges.get(m).into_iter().flatten() {
            if let Some((key, _)) = edges.get_key_value(next.as_str()) {
                if let Some(cycle) = visit(key, edges, stack, done) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(module, &edges, &mut stack, &mut done) {
            panic!("files import each other: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn module_paths_resolve_crate_and_super() {
    let code = "use crate::{core::ids, delivery::hub::{self, Sink}};\n\
                use super::super::x::Y;\n\
                fn f() { crate::a::b(); }";
    let found = paths(code, "transport::poll::session");
    let expected = [
        "core::ids",
        "delivery::hub",
        "Sink",
        "transport::x::Y",
        "a::b",
    ];
    assert_eq!(found, expected);
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
