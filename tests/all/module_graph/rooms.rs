//! The crate's rooms, as docs/architecture.md draws them ("## Rooms": one row per room, its
//! modules and what it may import), held against the sources: every import between
//! top-level modules must be one its room allows, every module must be in exactly one room,
//! and every room a row names must exist. The page cannot drift from the code.

use super::{Edges, read_tree, sibling_edges};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The rooms in the page's order: name, modules, and the rooms or modules it may import.
struct Room {
    name: String,
    modules: BTreeSet<String>,
    may_import: BTreeSet<String>,
}

/// The backticked or plain words of a table cell, without punctuation.
fn words(cell: &str) -> BTreeSet<String> {
    cell.split(',')
        .map(|w| w.trim().trim_matches('`').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The rows of the "## Rooms" table.
fn rooms(page: &str) -> Vec<Room> {
    let section = format!("\n{page}");
    let section = section
        .split("\n## ")
        .find(|s| s.starts_with("Rooms"))
        .expect("docs/architecture.md has a \"## Rooms\" section");
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| room"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 3, "a rooms row has three cells: {l}");
            Room {
                name: cells[0].to_string(),
                modules: words(cells[1]),
                may_import: words(cells[2]),
            }
        })
        .collect()
}

/// Whether `to` (in room `to_room`) may be imported from `room`.
fn allowed(room: &Room, to: &str, to_room: &str) -> bool {
    room.may_import.contains("everything")
        || room.may_import.contains(to_room)
        || room.may_import.contains(to)
}

/// Every top-level import its room does not allow, as "from -> to (files)".
fn violations(rooms: &[Room], top: &Edges) -> Vec<String> {
    let room_of: BTreeMap<&str, &Room> = rooms
        .iter()
        .flat_map(|r| r.modules.iter().map(move |m| (m.as_str(), r)))
        .collect();
    let mut found = Vec::new();
    for ((from, to), files) in top {
        let (Some(from_room), Some(to_room)) =
            (room_of.get(from.as_str()), room_of.get(to.as_str()))
        else {
            continue; // modules in no room are reported by the test itself
        };
        if !allowed(from_room, to, &to_room.name) {
            let files: Vec<&String> = files.keys().collect();
            found.push(format!(
                "{from} ({}) -> {to} ({}): not allowed by the rooms table ({files:?})",
                from_room.name, to_room.name
            ));
        }
    }
    found
}

#[test]
fn imports_stay_in_the_rooms_the_architecture_page_draws() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let page = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let rooms = rooms(&page);
    assert!(rooms.len() >= 3, "the rooms table has {} rows", rooms.len());
    let src = root.join("runtime/src");
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    let top_modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(f, _)| f.split('/').next())
        .map(|f| f.trim_end_matches(".rs").to_string())
        .filter(|m| m != "lib")
        .collect();
    let mut placed = BTreeMap::new();
    for room in &rooms {
        for m in &room.modules {
            assert!(
                top_modules.contains(m),
                "room {} names {m}, which does not exist",
                room.name
            );
            if let Some(other) = placed.insert(m.clone(), room.name.clone()) {
                panic!("{m} is in two rooms: {other} and {}", room.name);
            }
        }
        for target in &room.may_import {
            let known = target == "everything"
                || rooms.iter().any(|r| &r.name == target)
                || top_modules.contains(target);
            assert!(
                known,
                "room {} may import {target:?}, which is no room or module",
                room.name
            );
        }
    }
    let unplaced: Vec<&String> = top_modules
        .iter()
        .filter(|m| !placed.contains_key(*m))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no room of docs/architecture.md: {unplaced:?}"
    );
    let graph = sibling_edges(&files);
    let top = graph.get(&Vec::new()).cloned().unwrap_or_default();
    assert!(
        !top.is_empty(),
        "no imports between top-level modules found"
    );
    let found = violations(&rooms, &top);
    assert!(
        found.is_empty(),
        "imports across rooms:\n{}",
        found.join("\n")
    );
}

#[test]
fn an_import_up_the_table_is_a_violation() {
    let page = "## Rooms\n\n| room | modules | may import |\n|---|---|---|\n\
        | leaves | `a`, `b` | leaves |\n| engines | `c` | leaves, `d` |\n| top | `d` | everything |\n";
    let rooms = rooms(page);
    let edge = |from: &str, to: &str| {
        let mut e = Edges::new();
        e.entry((from.to_string(), to.to_string()))
            .or_default()
            .entry(format!("{from}.rs"))
            .or_default()
            .insert(1);
        e
    };
    assert!(violations(&rooms, &edge("c", "a")).is_empty());
    assert!(
        violations(&rooms, &edge("c", "d")).is_empty(),
        "a module named in the row"
    );
    assert!(violations(&rooms, &edge("d", "c")).is_empty(), "everything");
    let up = violations(&rooms, &edge("a", "c"));
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(up[0].contains("a (leaves) -> c (engines)"), "{up:?}");
}
