//! The checker on small made-up crates: what it must find, and what it must not.

use super::*;

fn crate_of(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .collect()
}

fn found(files: &[(&str, &str)]) -> Vec<String> {
    report(&sibling_edges(&crate_of(files)))
}

#[test]
fn a_two_module_cycle_is_found_with_the_files_causing_it() {
    let cycles = found(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::Thing;\n"),
        ("b.rs", "pub struct Thing;\n\nfn f() { crate::a::g() }\n"),
    ]);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].contains("top-level modules: a, b"),
        "{}",
        cycles[0]
    );
    assert!(cycles[0].contains("a -> b: a.rs:1"), "{}", cycles[0]);
    assert!(cycles[0].contains("b -> a: b.rs:3"), "{}", cycles[0]);
}

#[test]
fn an_acyclic_crate_passes() {
    let files = [
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a.rs", "use crate::b::X;\nuse crate::c::Y;\n"),
        ("b.rs", "use crate::c::Y;\n"),
        ("c.rs", "pub struct Y;\n"),
    ];
    assert_eq!(found(&files), Vec::<String>::new());
    let edges = &sibling_edges(&crate_of(&files))[&vec![]];
    assert_eq!(edges.len(), 3, "{edges:?}");
}

#[test]
fn use_groups_and_nested_braces_are_parsed() {
    let toks = tokens("use crate::{a::x, b::{c::{self, d}, e}, f as g, h::*, *};");
    let got: Vec<String> = paths(&toks)
        .into_iter()
        .map(|(p, _)| p.join("::"))
        .collect();
    assert_eq!(
        got,
        [
            "crate::a::x",
            "crate::b::c",
            "crate::b::c::d",
            "crate::b::e",
            "crate::f",
            "crate::h",
            "crate",
        ]
    );
    // A group in `a` naming `b` is an edge like a plain path.
    let cycles = found(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::{x::Y, b::{inner::{Z}}};\n"),
        ("b.rs", "use crate::a;\n"),
    ]);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
}

#[test]
fn children_of_a_directory_module_are_checked_and_parents_are_no_siblings() {
    let files = [
        ("lib.rs", "pub mod d;\n"),
        ("d/mod.rs", "pub mod x;\npub mod y;\npub struct Shared;\n"),
        // x uses its parent's item (no edge) and its sibling y.
        ("d/x.rs", "use super::Shared;\nuse super::y::Y;\n"),
        // y reaches x through the crate path.
        ("d/y.rs", "pub struct Y;\nfn f() { crate::d::x::g() }\n"),
    ];
    let cycles = found(&files);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].contains("children of `crate::d`: x, y"),
        "{}",
        cycles[0]
    );
    assert!(cycles[0].contains("x -> y: d/x.rs:2"), "{}", cycles[0]);
    assert!(!cycles[0].contains("d/x.rs:1"), "{}", cycles[0]);
}

#[test]
fn test_code_comments_and_strings_are_ignored() {
    let cycles = found(&[
        ("lib.rs", "pub mod a;\npub mod b;\n#[cfg(test)]\nmod c;\n"),
        ("a.rs", "use crate::b::X;\n"),
        (
            "b.rs",
            "// crate::a::f()\n/* crate::a::g() /* nested */ */\n/// [`crate::a`]\n\
             const S: &str = \"crate::a::h\";\nconst C: char = '{';\n\
             #[cfg(test)]\nmod tests {\n    use crate::a::f;\n    fn t() { let _ = '}'; }\n}\n\
             #[cfg(test)]\nuse crate::a::g;\n",
        ),
        // A test-only file module.
        ("c.rs", "use crate::a;\nuse crate::b;\n"),
    ]);
    assert_eq!(cycles, Vec::<String>::new());
    // The same crate with the reference outside the test block has the cycle.
    let cycles = found(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        ("a.rs", "use crate::b::X;\n"),
        ("b.rs", "#[cfg(test)]\nmod tests {}\nuse crate::a::f;\n"),
    ]);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
}
