//! The hostile uploads, generated: a table of case kinds (framing, boundaries, truncation,
//! dispositions, escaping and odd names, duplicates, part counts, part heads, definitions,
//! component files), each filled from a seeded [`Rng`]. One file, long by nature: it is the
//! list of what a client may send, read top to bottom.

pub(super) use super::rng::Rng;
use super::wire::{Part, content_type, multipart};
use predictor_tests::{guests, root};
use serde_json::{Value, json};

/// Characters RFC 2046 allows in a boundary (but the space, which may not end one).
const BOUNDARY_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=?";
/// Printable ASCII without the double quote (which would end a quoted header parameter).
const PRINTABLE: &[u8] =
    b" !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// The iris ONNX example, its definition named `name`.
pub(super) struct Iris {
    pub(super) definition: Value,
    pub(super) model: Vec<u8>,
}

impl Iris {
    pub(super) fn load() -> Iris {
        let dir = root().join("examples/iris-onnx");
        Iris {
            definition: serde_json::from_slice(
                &std::fs::read(dir.join("deployment.json")).unwrap(),
            )
            .unwrap(),
            model: std::fs::read(dir.join("model.onnx")).unwrap(),
        }
    }

    /// Its two files as parts, the definition named `name`.
    pub(super) fn parts(&self, name: &str) -> Vec<Part> {
        let mut definition = self.definition.clone();
        definition["name"] = json!(name);
        vec![
            Part::file(b"deployment.json", definition.to_string()),
            Part::file(b"model.onnx", self.model.clone()),
        ]
    }
}

/// What a case's answer must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Expect {
    /// A valid upload: 201.
    Created,
    /// A 4xx with `{"error"}`.
    Refused,
    /// Either: what the bytes mean is up to the multipart reader (an odd but safe name, a
    /// boundary past RFC 2046's 70 characters). A 201 then stores only paths inside the
    /// deployment.
    Either,
}

/// How a body goes out.
#[derive(Clone, Copy, Debug)]
pub(super) enum Delivery {
    Whole,
    /// The first `n` bytes, then nothing (the connection stays open).
    Stalled(usize),
    /// The first `n` bytes, then the client shuts its sending side.
    HalfClosed(usize),
}

pub(super) struct Case {
    pub(super) what: String,
    /// The `Content-Type` header's value; none when empty.
    pub(super) content_type: Vec<u8>,
    pub(super) body: Vec<u8>,
    pub(super) delivery: Delivery,
    pub(super) expect: Expect,
}

impl Case {
    pub(super) fn new(what: impl Into<String>, parts: &[Part], expect: Expect) -> Case {
        let boundary = b"hostile-boundary-7MA4YWxkTrZu0gW";
        Case {
            what: what.into(),
            content_type: content_type(boundary),
            body: multipart(boundary, parts),
            delivery: Delivery::Whole,
            expect,
        }
    }
}

/// File names a store must never take: they climb out, are absolute, use `\`, hold a
/// control character, are reserved by the store, too long or too deep, or clash.
fn escaping_names() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = [
        "..",
        ".",
        "../x",
        "../../../sentinel/pwned",
        "../../../../../../../../etc/passwd",
        "x/../../y",
        "x/./y",
        "./x",
        "x//y",
        "x/",
        "/etc/passwd",
        "/x",
        "a\tb",
        ".tmp-x",
        ".run-iris-x",
        "a/.run-b",
        "deployment.json/x",
        "model.onnx/inside",
        "deployment.json",
        "model.onnx",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.push(vec![b'n'; 256]);
    names.push(vec![b'n'; 5_000]);
    names.push(b"d/".repeat(16).into_iter().chain(*b"f").collect());
    names.push(b"abcdefgh/".repeat(120).into_iter().chain(*b"f").collect());
    names
}

/// Odd names that are plain file names once read (or that the multipart reader may read
/// differently): taken or refused, never outside the deployment.
fn odd_names() -> Vec<Vec<u8>> {
    [
        "%2e%2e",
        "%2e%2e%2fsentinel%2fpwned",
        "..%2f..%2fx",
        "..%5c..%5cx",
        "x%00y",
        "a\\b",
        "..\\..\\x",
        "x.json",
        "con",
        "a b;c=d",
        "ü/ñ/日本",
        "x\u{202e}y",
        "...",
        "..x",
        "x..",
        "",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Numbers out of every range a definition has.
fn huge_number_definitions() -> Vec<(String, Value)> {
    let huge = [
        json!(u64::MAX),
        json!(u64::MAX as f64 * 16.0),
        json!(-1),
        json!(1e300),
        json!(u32::MAX),
        json!(0),
    ];
    let fields: [&[&str]; 11] = [
        &["resources", "limits", "memory"],
        &["resources", "requests", "memory"],
        &["resources", "limits", "cores"],
        &["resources", "requests", "cores"],
        &["inference_batcher", "max_latency"],
        &["inference_batcher", "timeout"],
        &["inference_batcher", "max_batch_size"],
        &["scaling_configuration", "min_instances"],
        &["scaling_configuration", "max_instances"],
        &["scaling_configuration", "target"],
        &["scaling_configuration", "stable_window_seconds"],
    ];
    let mut out = Vec::new();
    for field in fields {
        for value in &huge {
            // Zero is in range for a few fields (and then a valid upload).
            if value == &json!(0) && field[1] != "limits" && field[1] != "requests" {
                continue;
            }
            if value == &json!(u32::MAX) && field[0] == "resources" {
                continue;
            }
            let mut definition = json!({"name": "hostile", "model_file": "model.onnx",
                "resources": {"requests": {"cores": 0.2, "memory": 32},
                              "limits": {"cores": 2, "memory": 1024}}});
            if field[0] == "inference_batcher" {
                definition["inference_batcher"] = json!({"enabled": true});
            }
            definition[field[0]][field[1]] = match field.get(2) {
                Some(leaf) => {
                    let mut section = definition[field[0]][field[1]].clone();
                    section[leaf] = value.clone();
                    section
                }
                None => value.clone(),
            };
            out.push((format!("{} = {value}", field.join(".")), definition));
        }
    }
    out
}

/// A case of one kind, chosen and filled by `rng`.
pub(super) fn generate(rng: &mut Rng, iris: &Iris) -> Case {
    let base = iris.parts("iris");
    match rng.below(12) {
        // A valid upload, sometimes with an extra file, under a random valid boundary.
        0 => {
            let n = rng.range(1, 71);
            let boundary = rng.text(BOUNDARY_CHARS, n);
            let mut parts = base;
            if rng.below(3) == 0 {
                let path = format!("extra/{}.bin", rng.below(1000));
                let n = rng.range(0, 2000);
                parts.push(Part::file(path.as_bytes(), rng.bytes(n)));
            }
            Case {
                content_type: content_type(&boundary),
                body: multipart(&boundary, &parts),
                ..Case::new("a valid upload", &[], Expect::Created)
            }
        }
        // The boundary: absent, empty, mismatched, overlong, random, in a bad header.
        1 => {
            let boundary = rng.text(BOUNDARY_CHARS, 30);
            let body = multipart(&boundary, &base);
            let n = rng.range(1, 200);
            let junk = rng.text(PRINTABLE, n);
            let n = rng.range(71, 8000);
            let long = rng.text(BOUNDARY_CHARS, n);
            let n = rng.range(0, 5000);
            let random = rng.bytes(n);
            let (what, content_type, body, expect) = match rng.below(10) {
                0 => (
                    "no boundary parameter",
                    b"multipart/form-data".to_vec(),
                    body,
                    Expect::Refused,
                ),
                1 => (
                    "an empty boundary",
                    content_type(b""),
                    body,
                    Expect::Refused,
                ),
                2 => (
                    "another boundary than the body's",
                    content_type(b"not-the-one"),
                    body,
                    Expect::Refused,
                ),
                3 => (
                    "an overlong boundary",
                    self::content_type(&long),
                    multipart(&long, &base),
                    Expect::Either,
                ),
                4 => (
                    "a random boundary",
                    self::content_type(&junk),
                    multipart(&junk, &base),
                    Expect::Either,
                ),
                5 => ("no content type", Vec::new(), body, Expect::Refused),
                6 => (
                    "multipart/mixed",
                    [b"multipart/mixed; boundary=".as_slice(), &boundary].concat(),
                    body,
                    Expect::Refused,
                ),
                7 => (
                    "bytes past ASCII in the content type",
                    [content_type(&boundary), vec![0xff, 0xfe]].concat(),
                    body,
                    Expect::Refused,
                ),
                8 => (
                    "no closing boundary",
                    self::content_type(&boundary),
                    body[..body.len() - boundary.len() - 6].to_vec(),
                    Expect::Refused,
                ),
                _ => (
                    "random bytes for a body",
                    self::content_type(&boundary),
                    random,
                    Expect::Refused,
                ),
            };
            Case {
                what: what.into(),
                content_type,
                body,
                delivery: Delivery::Whole,
                expect,
            }
        }
        // A valid body cut at a random offset (the length header says the cut length).
        2 => {
            let mut case = Case::new("", &base, Expect::Refused);
            let whole = case.body.len();
            let cut = rng.below(whole);
            // Cut inside the final boundary's dashes or line end, the parts are all there.
            let closing = case.body.len() - b"hostile-boundary-7MA4YWxkTrZu0gW--\r\n".len() - 2;
            if cut >= closing {
                case.expect = Expect::Either;
            }
            case.body.truncate(cut);
            case.what = format!("truncated at {cut} of {whole}");
            case
        }
        // A part without a usable Content-Disposition.
        3 => {
            let heads: [(&[u8], Expect); 6] = [
                (b"", Expect::Refused),
                (b"Content-Type: text/plain", Expect::Refused),
                (b"Content-Disposition: form-data", Expect::Refused),
                (
                    b"Content-Disposition: attachment; filename=\"a.bin\"",
                    Expect::Either,
                ),
                (b"Content-Disposition: form-data; name=", Expect::Either),
                (b"Content-Disposition", Expect::Refused),
            ];
            let (head, expect) = *rng.pick(&heads);
            let mut parts = base;
            parts.insert(rng.below(3), Part::raw(head, b"data".to_vec()));
            Case::new(
                format!("a part whose head is {:?}", String::from_utf8_lossy(head)),
                &parts,
                expect,
            )
        }
        // A file name that escapes, as a file name or as a field name.
        4 => {
            let name = rng.pick(&escaping_names()).clone();
            let mut parts = base;
            let as_field = rng.below(2) == 0;
            parts.push(if as_field {
                Part::field(&name, b"pwned".to_vec())
            } else {
                Part::file(&name, b"pwned".to_vec())
            });
            Case::new(
                format!(
                    "the path {:?} (field: {as_field})",
                    String::from_utf8_lossy(&name)
                ),
                &parts,
                Expect::Refused,
            )
        }
        // An odd name, or a random one from the characters paths are made of.
        5 => {
            let name = if rng.below(2) == 0 {
                rng.pick(&odd_names()).clone()
            } else {
                let n = rng.range(1, 40);
                rng.text(b"./\\%2eE.x-_.:~ ", n)
            };
            let mut parts = base;
            parts.push(Part::file(&name, b"odd".to_vec()));
            Case::new(
                format!("the odd path {:?}", String::from_utf8_lossy(&name)),
                &parts,
                Expect::Either,
            )
        }
        // A NUL, a CR or an LF inside the file name (the part's head).
        6 => {
            let at = *rng.pick(b"\0\r\n");
            let name = [b"x".as_slice(), &[at], b"y"].concat();
            let mut parts = base;
            parts.push(Part::file(&name, b"x".to_vec()));
            Case::new(
                format!("the byte {at:#04x} in a file name"),
                &parts,
                Expect::Either,
            )
        }
        // The same path twice; a path that is a file and a folder.
        7 => {
            let mut parts = base;
            let what = match rng.below(3) {
                0 => {
                    let path = format!("dup/{}", rng.below(100));
                    parts.push(Part::file(path.as_bytes(), b"1".to_vec()));
                    parts.push(Part::file(path.as_bytes(), b"2".to_vec()));
                    "a path given twice"
                }
                1 => {
                    parts.push(Part::field(
                        b"definition",
                        iris.parts("iris")[0].body.clone(),
                    ));
                    "the definition as a file and as the `definition` field"
                }
                _ => {
                    let mut pair = [
                        Part::file(b"x", b"file".to_vec()),
                        Part::file(b"x/y", b"in".to_vec()),
                    ];
                    if rng.below(2) == 0 {
                        pair.reverse();
                    }
                    parts.extend(pair);
                    "x and x/y"
                }
            };
            let at = rng.below(parts.len());
            let last = parts.pop().unwrap();
            parts.insert(at, last);
            Case::new(what, &parts, Expect::Refused)
        }
        // Thousands of tiny parts.
        8 => {
            let n = rng.range(1_000, 4_000);
            let mut parts = base;
            parts.extend((0..n).map(|i| Part::file(format!("f/{i}").as_bytes(), b"x".to_vec())));
            Case::new(format!("{} parts", parts.len()), &parts, Expect::Refused)
        }
        // A part head past any sensible size: one long line, or too many lines.
        9 => {
            let mut parts = base;
            let (what, head, expect) = if rng.below(2) == 0 {
                let n = rng.range(8 << 10, 512 << 10);
                let mut head = Part::file(b"padded.bin", Vec::new()).head;
                head.extend_from_slice(b"\r\nX-Padding: ");
                head.extend(std::iter::repeat_n(b'a', n));
                (
                    format!("a part head line of {n} bytes"),
                    head,
                    Expect::Either,
                )
            } else {
                let n = rng.range(33, 2_000);
                let mut head = Part::file(b"padded.bin", Vec::new()).head;
                for i in 0..n {
                    head.extend_from_slice(format!("\r\nX-Header-{i}: v").as_bytes());
                }
                (format!("a part head of {n} lines"), head, Expect::Refused)
            };
            parts.push(Part::raw(&head, b"x".to_vec()));
            Case::new(what, &parts, expect)
        }
        // A definition that is not one: not JSON, not UTF-8, nested, huge numbers.
        10 => {
            let depth = 1_000;
            let n = rng.range(0, 300);
            let random = rng.bytes(n);
            let definitions: Vec<(String, Vec<u8>)> = vec![
                ("random bytes".into(), random),
                ("empty".into(), Vec::new()),
                (
                    "not UTF-8".into(),
                    b"{\"name\": \"hostile\xff\xfe\", \"model_file\": \"model.onnx\"}".to_vec(),
                ),
                (
                    "a byte-order mark".into(),
                    [
                        b"\xef\xbb\xbf".as_slice(),
                        br#"{"name":"hostile","model_file":"model.onnx"}"#,
                    ]
                    .concat(),
                ),
                ("an array".into(), b"[]".to_vec()),
                ("null".into(), b"null".to_vec()),
                (
                    format!("arrays {depth} deep"),
                    format!(
                        r#"{{"name":"hostile","model_file":"model.onnx","description":{}1{}}}"#,
                        "[".repeat(depth),
                        "]".repeat(depth)
                    )
                    .into_bytes(),
                ),
                (
                    format!("objects {depth} deep"),
                    format!(
                        r#"{{"name":"hostile","model_file":"model.onnx","x":{}1{}}}"#,
                        r#"{"a":"#.repeat(depth),
                        "}".repeat(depth)
                    )
                    .into_bytes(),
                ),
                (
                    format!("only arrays {depth} deep"),
                    format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
                ),
                (
                    "a name that escapes".into(),
                    br#"{"name":"../../sentinel/victim","model_file":"model.onnx"}"#.to_vec(),
                ),
                (
                    "a model_file that escapes".into(),
                    br#"{"name":"hostile","model_file":"../../../sentinel/secret"}"#.to_vec(),
                ),
                (
                    "a model_file that is a folder".into(),
                    br#"{"name":"hostile","model_file":"m"}"#.to_vec(),
                ),
                (
                    "an absolute model_file".into(),
                    br#"{"name":"hostile","model_file":"/etc/passwd"}"#.to_vec(),
                ),
            ];
            let numbers = huge_number_definitions();
            let (what, definition) = if rng.below(2) == 0 {
                rng.pick(&definitions).clone()
            } else {
                let (what, definition) = rng.pick(&numbers);
                (what.clone(), definition.to_string().into_bytes())
            };
            let parts = [
                Part::file(b"deployment.json", definition),
                Part::file(b"model.onnx", iris.model.clone()),
                Part::file(b"m/inside", b"x".to_vec()),
            ];
            Case::new(format!("a definition: {what}"), &parts, Expect::Refused)
        }
        // A component file that is not a component.
        _ => {
            let n = rng.range(0, 4000);
            let random = rng.bytes(n);
            let core = rng.bytes(64);
            let garbage = rng.bytes(n);
            let cut = rng.range(8, 4000);
            let files: [(&str, Vec<u8>); 7] = [
                ("random bytes", random),
                ("empty", Vec::new()),
                (
                    "a core module header",
                    [b"\0asm\x01\0\0\0".as_slice(), &core].concat(),
                ),
                (
                    "a component header and garbage",
                    [b"\0asm\x0d\0\x01\0".as_slice(), &garbage].concat(),
                ),
                (
                    "a truncated component",
                    std::fs::read(guests::ROWS).unwrap()[..cut].to_vec(),
                ),
                (
                    "an ELF header",
                    [b"\x7fELF\x02\x01\x01".as_slice(), &core].concat(),
                ),
                ("four bytes", b"\0asm".to_vec()),
            ];
            let (what, bytes) = rng.pick(&files).clone();
            let (field, definition) = if rng.below(2) == 0 {
                (
                    "component_file",
                    json!({"name": "hostile", "component_file": "p.wasm"}),
                )
            } else {
                (
                    "transformer.component_file",
                    json!({"name": "hostile", "model_file": "model.onnx",
                    "transformer": {"component_file": "p.wasm"}}),
                )
            };
            let parts = [
                Part::file(b"deployment.json", definition.to_string()),
                Part::file(b"model.onnx", iris.model.clone()),
                Part::file(b"p.wasm", bytes),
            ];
            Case::new(format!("{field}: {what}"), &parts, Expect::Refused)
        }
    }
}
