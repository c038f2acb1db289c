//! No cycles between sibling modules of `runtime/src`, at every level: among the crate's
//! top-level modules (`crate::NAME` paths, `use crate::{a::x, b::{..}}` groups included),
//! and among the children of each directory module (`super::NAME` from a sibling, or
//! `crate::parent::NAME`). A cycle means the modules cannot be read, tested or moved apart;
//! on failure every cycle (strongly connected component) is printed with, per edge, the
//! files and lines that cause it. Test code (`#[cfg(test)]` items and the files of
//! `#[cfg(test)] mod x;`) and comments are left out: they do not shape the build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module by its path from the crate root (`[]` is the root).
type ModPath = Vec<String>;

/// Edges between the children of one parent: `(from, to)` to the files (and their lines)
/// causing it.
type Edges = BTreeMap<(String, String), BTreeMap<String, BTreeSet<usize>>>;

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
    /// `::`
    Path,
}

/// Identifiers and punctuation with their lines; comments, strings and chars dropped.
fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b = src.as_bytes();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    // Skips to the end of a quoted literal from just after its opening quote.
    let skip_quoted = |mut i: usize, line: &mut usize, quote: u8| {
        while i < b.len() && b[i] != quote {
            *line += usize::from(b[i] == b'\n');
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        i + 1
    };
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(b[i] == b'\n');
                    i += 1;
                }
            }
        } else if c == b'"' {
            i = skip_quoted(i + 1, &mut line, b'"');
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a), which has no close.
            if b.get(i + 1) == Some(&b'\\') {
                i = skip_quoted(i + 1, &mut line, b'\'');
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &src[start..i];
            let hashes = b[i..].iter().take_while(|&&h| h == b'#').count();
            if matches!(word, "r" | "br") && b.get(i + hashes) == Some(&b'"') {
                // A raw string: ends at the quote followed by as many `#`.
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + hashes + 1;
                let end = src[body..].find(&close).map_or(b.len(), |e| body + e);
                line += src[i..end].matches('\n').count();
                i = end + close.len();
            } else if word == "b" && b.get(i) == Some(&b'\'') {
                i = skip_quoted(i + 1, &mut line, b'\'');
            } else {
                out.push((Tok::Ident(word.to_string()), line));
            }
        } else if b[i..].starts_with(b"::") {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                out.push((Tok::Punct(c as char), line));
            }
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// Drops each `#[cfg(test)]` item (to its `;` or its closing `}`); returns the names of
/// `#[cfg(test)] mod name;` declarations, whose files are test code too.
fn drop_test_items(toks: &mut Vec<(Tok, usize)>) -> Vec<String> {
    let attr = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    let mut test_files = Vec::new();
    let mut i = 0;
    while i + attr.len() <= toks.len() {
        if !toks[i..i + attr.len()].iter().map(|t| &t.0).eq(attr.iter()) {
            i += 1;
            continue;
        }
        let mut end = i + attr.len();
        let mut depth = 0usize;
        while end < toks.len() {
            match toks[end].0 {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                Tok::Punct(';') if depth == 0 => {
                    let item = &toks[i + attr.len()..end];
                    if let [.., (Tok::Ident(m), _), (Tok::Ident(name), _)] = item
                        && m == "mod"
                    {
                        test_files.push(name.clone());
                    }
                    break;
                }
                _ => {}
            }
            end += 1;
        }
        toks.drain(i..(end + 1).min(toks.len()));
    }
    test_files
}

/// Every path starting at `crate`, `super` or `self` with its line, use groups expanded:
/// `crate::{a::x, b::{c, self}}` gives `crate::a::x`, `crate::b::c` and `crate::b`.
fn paths(toks: &[(Tok, usize)]) -> Vec<(Vec<String>, usize)> {
    /// Parses a use tree at `i` below `prefix`; returns where it ends.
    fn tree(
        toks: &[(Tok, usize)],
        mut i: usize,
        mut prefix: Vec<String>,
        out: &mut Vec<(Vec<String>, usize)>,
    ) -> usize {
        let line = toks.get(i).map_or(0, |t| t.1);
        loop {
            match toks.get(i) {
                Some((Tok::Ident(s), _)) if s == "self" && !prefix.is_empty() => i += 1,
                Some((Tok::Ident(s), _)) => {
                    prefix.push(s.clone());
                    i += 1;
                }
                Some((Tok::Punct('{'), _)) => {
                    i += 1;
                    while !matches!(toks.get(i), None | Some((Tok::Punct('}'), _))) {
                        let at = i;
                        i = tree(toks, i, prefix.clone(), out);
                        if i == at {
                            i += 1;
                        }
                        if matches!(toks.get(i), Some((Tok::Punct(','), _))) {
                            i += 1;
                        }
                    }
                    return i + 1;
                }
                _ => break,
            }
            if toks.get(i).map(|t| &t.0) != Some(&Tok::Path) {
                break;
            }
            i += 1;
            // A glob (`x::*`) is a path to `x`.
            if toks.get(i).map(|t| &t.0) == Some(&Tok::Punct('*')) {
                i += 1;
                break;
            }
        }
        out.push((prefix, line));
        // `x as y`: the path is `x`.
        if ident(toks.get(i)) == Some("as") {
            i += 2;
        }
        i
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let starts = matches!(ident(toks.get(i)), Some("crate" | "super" | "self"))
            && toks.get(i + 1).map(|t| &t.0) == Some(&Tok::Path)
            // Not the tail of a longer path (`a::self::x` is no new start).
            && (i == 0 || toks[i - 1].0 != Tok::Path);
        if starts {
            i = tree(toks, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// `path` as seen from module `from`, made absolute (`None`: it climbs above the root).
fn resolve(from: &[String], path: &[String]) -> Option<ModPath> {
    let mut at: ModPath = from.to_vec();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        _ => {}
    }
    while rest.first().map(String::as_str) == Some("super") {
        at.pop()?;
        rest = &rest[1..];
    }
    at.extend(rest.iter().cloned());
    Some(at)
}

/// A file's module: `a/b.rs` and `a/b/mod.rs` are `[a, b]`; `lib.rs` is the root.
fn module_of(file: &str) -> ModPath {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let mut parts: ModPath = stem.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The sibling edges of a crate given as `(path under src, source)`, by parent module.
fn sibling_edges(files: &[(String, String)]) -> BTreeMap<ModPath, Edges> {
    let mut parsed = Vec::new();
    let mut test_modules = BTreeSet::new();
    for (file, src) in files {
        let module = module_of(file);
        let mut toks = tokens(src);
        for name in drop_test_items(&mut toks) {
            test_modules.insert([module.clone(), vec![name]].concat());
        }
        parsed.push((file, module, toks));
    }
    let is_test = |m: &ModPath| test_modules.iter().any(|t| m.starts_with(t));
    parsed.retain(|(_, m, _)| !is_test(m));
    let modules: BTreeSet<ModPath> = parsed
        .iter()
        .flat_map(|(_, m, _)| (0..=m.len()).map(|k| m[..k].to_vec()))
        .collect();
    let mut graph: BTreeMap<ModPath, Edges> = BTreeMap::new();
    for (file, from, toks) in &parsed {
        for (path, line) in paths(toks) {
            let Some(to) = resolve(from, &path) else {
                continue;
            };
            let k = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            // A reference to an ancestor's own item, or down into oneself, joins no siblings.
            if k == from.len() || k == to.len() || !modules.contains(&to[..=k]) {
                continue;
            }
            graph
                .entry(from[..k].to_vec())
                .or_default()
                .entry((from[k].clone(), to[k].clone()))
                .or_default()
                .entry(file.to_string())
                .or_default()
                .insert(line);
        }
    }
    graph
}

/// Strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    struct State<'a> {
        next: BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, (usize, usize)>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, (n, n));
        s.stack.push(v);
        for w in s.next.get(v).cloned().unwrap_or_default() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.index[v].1.min(s.index[w].1);
                s.index.get_mut(v).unwrap().1 = low;
            } else if s.stack.contains(&w) {
                let low = s.index[v].1.min(s.index[w].0);
                s.index.get_mut(v).unwrap().1 = low;
            }
        }
        if s.index[v].0 == s.index[v].1 {
            let at = s.stack.iter().rposition(|&x| x == v).unwrap();
            let mut component: Vec<String> = s.stack.drain(at..).map(String::from).collect();
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        next: BTreeMap::new(),
        index: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for (from, to) in edges.keys() {
        s.next.entry(from.as_str()).or_default().push(to.as_str());
        s.next.entry(to.as_str()).or_default();
    }
    let nodes: Vec<&str> = s.next.keys().copied().collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// Every cycle, described for a reader who has to break it.
fn report(graph: &BTreeMap<ModPath, Edges>) -> Vec<String> {
    let mut out = Vec::new();
    for (parent, edges) in graph {
        let place = match parent.len() {
            0 => "the crate's top-level modules".to_string(),
            _ => format!("the children of `crate::{}`", parent.join("::")),
        };
        for component in cycles(edges) {
            let mut text = format!("cycle among {place}: {}\n", component.join(", "));
            for ((from, to), sites) in edges {
                if component.contains(from) && component.contains(to) {
                    let sites: Vec<String> = sites
                        .iter()
                        .map(|(file, lines)| {
                            let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
                            format!("{file}:{}", lines.join(","))
                        })
                        .collect();
                    text += &format!("  {from} -> {to}: {}\n", sites.join(" "));
                }
            }
            out.push(text);
        }
    }
    out
}

fn read_tree(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_tree(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.strip_prefix(root).unwrap().to_string_lossy();
            let name = name.replace('\\', "/");
            // main.rs is another crate (the binary), whose `crate::` is itself.
            if name != "main.rs" {
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
}

#[test]
fn runtime_modules_have_no_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    read_tree(&root, &root, &mut files);
    assert!(files.len() > 10, "read only {} files", files.len());
    let graph = sibling_edges(&files);
    assert!(!graph.is_empty(), "no references found at all");
    let found = report(&graph);
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

mod cases;
mod rooms;
