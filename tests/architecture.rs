//! The layer rules of docs/ARCHITECTURE.md, checked on the source tree: imports point one
//! way (`http` → domain → `storage` → vocabulary), no two files import each other through
//! any chain, and HTTP types stay in `src/http` (plus `main.rs` and `startup.rs`, which wire
//! the server).
//!
//! A file imports another when it names it: `use crate::…`, `use super::…`, `use self::…`,
//! a child module's path, or an inline `crate::…::Item`. Test code (`#[cfg(test)]` to the
//! end of a file, where this crate keeps it) and comments are not read. Module declarations
//! (`mod x;`) are not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules storage may import: the pure vocabulary, which itself imports nothing above.
const VOCABULARY: [&str; 4] = ["access", "field", "geofence", "proto"];
/// Where the HTTP framework and the API error may be named.
const HTTP_FILES: [&str; 3] = ["http/", "main.rs", "startup.rs"];
/// Modules above the domain: nothing below may import them.
const WIRING: [&str; 3] = ["http", "startup", "bootstrap"];

struct File {
    /// Path below `src/`, e.g. `storage/users.rs`.
    rel: String,
    /// Module path, e.g. `["storage", "users"]` (empty for `lib.rs` and `main.rs`).
    module: Vec<String>,
    /// The text with comments and test code removed.
    code: String,
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

/// Drops line comments, block comments and string literals' contents (so a path in a
/// message or a doc is not an import), then everything from the first `#[cfg(test)]`.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push('"');
            }
            c => out.push(c),
        }
    }
    match out.find("#[cfg(test)]") {
        Some(i) => out[..i].to_owned(),
        None => out,
    }
}

fn load() -> Vec<File> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    source_files(&src, &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .expect("below src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path).expect("read source");
            File {
                module: module_of(&rel),
                code: code_of(&text),
                rel,
            }
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every `a::b::c` path in `code`, as segments, with `use` trees expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for statement in code.split(';') {
        if let Some(at) = statement.find("use ") {
            let before = &statement[..at];
            if before.trim_end().is_empty() || before.ends_with(' ') || before.ends_with('\n') {
                expand(&mut found, Vec::new(), statement[at + 4..].trim());
            }
        }
    }
    // Inline paths: every identifier followed by `::`, with the segments after it.
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = is_ident(bytes[i]) && (i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == ':'));
        if starts {
            let mut segments = Vec::new();
            let mut j = i;
            loop {
                let begin = j;
                while j < bytes.len() && is_ident(bytes[j]) {
                    j += 1;
                }
                segments.push(bytes[begin..j].iter().collect::<String>());
                if j + 2 < bytes.len() && bytes[j] == ':' && bytes[j + 1] == ':' && is_ident(bytes[j + 2]) {
                    j += 2;
                } else {
                    break;
                }
            }
            if segments.len() > 1 {
                found.push(segments);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

fn expand(found: &mut Vec<Vec<String>>, prefix: Vec<String>, tree: &str) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let mut base = prefix;
        base.extend(
            tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let (mut depth, mut start) = (0, 0);
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(found, base.clone(), &inner[start..k]);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand(found, base, &inner[start..]);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap_or(tree);
        let mut segments = prefix;
        segments.extend(path.split("::").map(str::trim).map(str::to_owned));
        found.push(segments);
    }
}

/// The file a path names: the deepest module of the crate that it reaches.
fn target<'f>(files: &'f [File], from: &File, path: &[String]) -> Option<&'f File> {
    let is_dir = from.rel.ends_with("mod.rs") || from.rel == "lib.rs" || from.rel == "main.rs";
    let (mut absolute, rest): (Vec<String>, &[String]) = match path[0].as_str() {
        "crate" | "muster" => (Vec::new(), &path[1..]),
        "self" => (from.module.clone(), &path[1..]),
        "super" => {
            let mut base = from.module.clone();
            base.pop();
            let mut rest = &path[1..];
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        // A path starting at a child module of a `mod.rs` (edition 2018 relative paths).
        child if is_dir => {
            let mut module = from.module.clone();
            module.push(child.to_owned());
            if !files.iter().any(|f| f.module == module) {
                return None;
            }
            (from.module.clone(), path)
        }
        _ => return None,
    };
    absolute.extend(rest.iter().cloned());
    (0..=absolute.len())
        .rev()
        .find_map(|n| files.iter().find(|f| f.module == absolute[..n]))
        .filter(|f| f.rel != from.rel)
}

fn imports(files: &[File]) -> BTreeMap<&str, BTreeSet<&str>> {
    files
        .iter()
        .map(|f| {
            let targets = paths(&f.code)
                .iter()
                .filter_map(|p| target(files, f, p))
                .map(|t| t.rel.as_str())
                .collect();
            (f.rel.as_str(), targets)
        })
        .collect()
}

/// A chain of imports that comes back to where it started, if there is one.
fn find_cycle<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        done: &mut BTreeSet<&'a str>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

fn top(rel: &str) -> &str {
    rel.split('/').next().unwrap_or(rel).trim_end_matches(".rs")
}

#[test]
fn no_file_imports_itself_through_a_chain() {
    let files = load();
    let graph = imports(&files);
    assert!(graph.len() > 50, "the source tree was not found");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn storage_imports_only_the_vocabulary_and_nothing_below_http_imports_the_wiring() {
    let files = load();
    let mut wrong = Vec::new();
    for (from, targets) in imports(&files) {
        for to in targets {
            let (a, b) = (top(from), top(to));
            if a == b {
                continue;
            }
            if a == "storage" && !VOCABULARY.contains(&b) {
                wrong.push(format!(
                    "{from} -> {to}: storage speaks its own records and the vocabulary only"
                ));
            }
            if VOCABULARY.contains(&a) && !VOCABULARY.contains(&b) {
                wrong.push(format!("{from} -> {to}: the vocabulary imports nothing above it"));
            }
            if WIRING.contains(&b) && !WIRING.contains(&a) && !["lib", "main"].contains(&a) {
                wrong.push(format!("{from} -> {to}: only the wiring may import {b}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn only_the_http_layer_names_actix_or_the_api_error() {
    let offenders: Vec<String> = load()
        .into_iter()
        .filter(|f| !HTTP_FILES.iter().any(|h| f.rel.starts_with(h)))
        .filter(|f| f.code.contains("actix") || f.code.contains("ApiError") || f.code.contains("AppState"))
        .map(|f| f.rel)
        .collect();
    assert!(offenders.is_empty(), "HTTP types outside src/http: {offenders:?}");
}

#[test]
fn the_checker_sees_a_circle_and_a_crate_path() {
    let code = code_of(
        "use crate::a::{b::C, d as e}; // use crate::z;\nfn f() { super::g::h(); }\n#[cfg(test)]\nuse crate::t;",
    );
    let found = paths(&code);
    assert!(found.contains(&vec!["crate".into(), "a".into(), "b".into(), "C".into()]));
    assert!(found.contains(&vec!["crate".into(), "a".into(), "d".into()]));
    assert!(found.contains(&vec!["super".into(), "g".into(), "h".into()]));
    assert!(
        !found
            .iter()
            .any(|p| p.contains(&"z".to_owned()) || p.contains(&"t".to_owned()))
    );
    let graph: BTreeMap<&str, BTreeSet<&str>> = [("a", ["b"].into()), ("b", ["c"].into()), ("c", ["a"].into())]
        .into_iter()
        .collect();
    assert_eq!(find_cycle(&graph), Some(vec!["a", "b", "c", "a"]));
}
