//! The shape of the crate, checked: the module graph has no cycle, and the core never
//! reaches an adapter.
//!
//! Read from the sources (every `crate::…` and `super::…` path outside comments and test
//! modules), so a new import that breaks the layout fails here with the files named, not in
//! a review. Modules are files: `src/track/kalman.rs` is `track::kalman`, a folder's
//! `mod.rs` is the folder. A folder's `mod.rs` re-exporting its own children is not a
//! dependency (it is how a folder shows its parts); everything else is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules of the pure core: synchronous, driven by event time, no sockets,
/// files or clocks. They may use each other, never an adapter or a tool built on top.
const CORE: &[&str] = &[
    "behaviour",
    "config",
    "contact",
    "decode",
    "engine",
    "geo",
    "pipeline",
    "recording",
    "report",
    "time",
    "track",
];
/// What the core must not import: the adapters and commands, the Prometheus observer, the
/// training and evaluation tools.
const NOT_FROM_CORE: &[&str] = &["io", "metrics", "training"];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Module path of a source file (`None` for the crate root and the binary).
fn module_of(rel: &Path) -> Option<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    match last.as_str() {
        "lib.rs" | "main.rs" if parts.is_empty() => return None,
        "mod.rs" => {}
        f => parts.push(f.strip_suffix(".rs")?.to_string()),
    }
    Some(parts.join("::"))
}

/// The code of a file less its comments and its `#[cfg(test)]` modules.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") && lines.peek().is_some_and(|n| n.contains("mod ")) {
            // A test module runs to the end of its braces.
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if opened && depth <= 0 {
                    break;
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path a piece of code names after `crate::` or `super::` (resolved against `me`),
/// with `use a::{b, c::d}` groups expanded.
fn paths(code: &str, me: &str) -> Vec<Vec<String>> {
    fn ident(b: &[u8], i: &mut usize) -> Option<String> {
        let s = *i;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
            *i += 1;
        }
        (*i > s).then(|| String::from_utf8_lossy(&b[s..*i]).into_owned())
    }
    fn skip_ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    /// Reads `a::b::{c, d::e}` from `i`, pushing each full path.
    fn tree(b: &[u8], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut p = prefix;
        loop {
            skip_ws(b, i);
            if *i < b.len() && b[*i] == b'{' {
                *i += 1;
                loop {
                    tree(b, i, p.clone(), out);
                    skip_ws(b, i);
                    match b.get(*i) {
                        Some(b',') => *i += 1,
                        Some(b'}') => {
                            *i += 1;
                            return;
                        }
                        _ => return,
                    }
                    skip_ws(b, i);
                    if b.get(*i) == Some(&b'}') {
                        *i += 1;
                        return;
                    }
                }
            }
            match ident(b, i) {
                Some(id) => p.push(id),
                None => break,
            }
            if b[*i..].starts_with(b"::") {
                *i += 2;
            } else {
                break;
            }
        }
        out.push(p);
    }
    let b = code.as_bytes();
    let mut out = Vec::new();
    let parent: Vec<String> = {
        let mut v: Vec<String> = me.split("::").map(String::from).collect();
        v.pop();
        v
    };
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let rest = &b[i..];
        if boundary && rest.starts_with(b"crate::") {
            i += 7;
            tree(b, &mut i, Vec::new(), &mut out);
        } else if boundary && rest.starts_with(b"super::") {
            i += 7;
            tree(b, &mut i, parent.clone(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// The graph of the crate's modules (files) from its sources under `src`.
fn graph(files: &BTreeMap<String, String>) -> Graph {
    let modules: BTreeSet<&str> = files.keys().map(String::as_str).collect();
    let mut g = Graph::new();
    for (me, text) in files {
        let deps = g.entry(me.clone()).or_default();
        for p in paths(&code(text), me) {
            // The longest prefix of the path that is a module of ours.
            let Some(target) = (1..=p.len())
                .rev()
                .map(|n| p[..n].join("::"))
                .find(|m| modules.contains(m.as_str()))
            else {
                continue;
            };
            let is_own_child = target.starts_with(&format!("{me}::"));
            if target != *me && !is_own_child {
                deps.insert(target);
            }
        }
    }
    g
}

/// A cycle of `g`, as the modules along it, if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        n: &str,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == d).expect("on the stack");
                    let mut c = stack[from..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(g, d, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(g, n, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// The same graph between top-level modules (`track::kalman` → `track`).
fn top_level(g: &Graph) -> Graph {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut t = Graph::new();
    for (from, deps) in g {
        let e = t.entry(top(from)).or_default();
        for d in deps {
            if top(d) != top(from) {
                e.insert(top(d));
            }
        }
    }
    t
}

/// Every way the layout is broken: cycles (between files, and between top-level modules),
/// and core modules reaching what they must not.
fn violations(files: &BTreeMap<String, String>) -> Vec<String> {
    let g = graph(files);
    let mut v = Vec::new();
    if let Some(c) = find_cycle(&g) {
        v.push(format!("import cycle between files: {}", c.join(" -> ")));
    }
    if let Some(c) = find_cycle(&top_level(&g)) {
        v.push(format!("import cycle between modules: {}", c.join(" -> ")));
    }
    for (from, deps) in &g {
        let top = from.split("::").next().unwrap_or(from);
        for d in deps {
            let dtop = d.split("::").next().unwrap_or(d);
            if CORE.contains(&top) && NOT_FROM_CORE.contains(&dtop) {
                v.push(format!("core module {from} imports {d}"));
            } else if dtop == "io" && top != "io" {
                v.push(format!(
                    "{from} imports the adapter {d} (only io/ and main.rs may)"
                ));
            }
        }
    }
    v
}

fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).expect("src is readable") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).expect("under src");
                if let Some(m) = module_of(rel) {
                    out.insert(m, std::fs::read_to_string(&p).expect("source is UTF-8"));
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn the_module_graph_has_no_cycle_and_the_core_imports_no_adapter() {
    let files = sources();
    let g = graph(&files);
    // The reader sees what is there: the engine uses the tracker, the commands the engine.
    assert!(g["engine"].contains("track"), "{:?}", g["engine"]);
    assert!(g["io::run"].contains("engine"), "{:?}", g["io::run"]);
    let v = violations(&files);
    assert!(v.is_empty(), "the layout is broken:\n{}", v.join("\n"));
}

/// The checker itself fails on what it is there to catch.
#[test]
fn the_layout_check_catches_cycles_and_core_imports_of_adapters() {
    let files = |list: &[(&str, &str)]| -> BTreeMap<String, String> {
        list.iter()
            .map(|(m, c)| (m.to_string(), c.to_string()))
            .collect()
    };
    // config -> io -> metrics -> engine -> config: the circle this check was written for.
    let circle = files(&[
        ("config", "use crate::io::mqtt::Security;"),
        ("io", "pub mod mqtt;"),
        ("io::mqtt", "use crate::metrics::Metrics;"),
        ("metrics", "use crate::engine::{Outputs, Pipeline};"),
        ("engine", "use crate::{config::Config, time::EventTime};"),
        ("time", ""),
    ]);
    let v = violations(&circle);
    assert!(
        v.iter()
            .any(|s| s.starts_with("import cycle between files")),
        "{v:?}"
    );
    assert!(
        v.iter().any(|s| s == "core module config imports io::mqtt"),
        "{v:?}"
    );
    // Inside a folder, through super::, in a grouped use: still a cycle.
    let inner = files(&[
        ("track", "pub mod a;\npub mod b;\npub use a::A;"),
        ("track::a", "use super::{b::B, grid};"),
        ("track::b", "fn f() -> crate::track::a::A { todo!() }"),
    ]);
    let v = violations(&inner);
    assert!(
        v.iter()
            .any(|s| s.contains("track::a -> track::b -> track::a")),
        "{v:?}"
    );
    // Comments and test modules are not imports; a folder re-exporting its parts is fine.
    let fine = files(&[
        ("engine", "//! see [`crate::io::run`]\nuse crate::track::Tracker;\n#[cfg(test)]\nmod tests {\n    use crate::io::run;\n}\n"),
        ("track", "pub mod tracker;\npub use tracker::Tracker;"),
        ("track::tracker", "use crate::time::EventTime;"),
        ("time", ""),
        ("io::run", "use crate::engine::Pipeline;"),
    ]);
    assert_eq!(violations(&fine), Vec::<String>::new());
}
