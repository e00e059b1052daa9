//! Property tests for the batch-file reader (issue #8, item 5).
//!
//! proptest rather than cargo fuzz: the properties need a model of what was
//! written (entries, offsets, lines) and must run in `cargo test` on stable in
//! well under a minute. Failing cases are shrunk, printed, and persisted next
//! to this file (`reader_props.regressions`), which is committed when created.
//!
//! Every read goes through a `BufReader` of random capacity (1 to 64 bytes), so
//! values, the BOM and line ends straddle read boundaries the way S3 body
//! chunks do.

use futures::executor::block_on;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};
use shared::batch::{Encoding, EntryReader, Layout, RawItem, ReadError, discover};
use tokio::io::BufReader;

const IOS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ANDROID: &str = "fcm-token_0123456789:abcdefghijklmnop";

/// What one generated entry must read back as: a user id, or the reason key.
type Expected = Result<String, &'static str>;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- generators

/// Text that exercises the scanner: quotes, backslashes, brackets, commas,
/// control characters (escaped by serde_json), and multi-byte UTF-8.
fn tricky_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 _\"\\\\\\[\\]{},:\t\n/é🎉\u{2028}-]{0,12}").expect("valid regex")
}

fn user_id() -> impl Strategy<Value = String> {
    tricky_text().prop_map(|t| format!("u{t}"))
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        tricky_text().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        (-1e6f64..1e6).prop_map(Value::from),
    ]
}

/// Nested values for `vars` and unknown keys (unknown keys are ignored).
fn nested() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(tricky_text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn vars() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(tricky_text(), nested(), 0..4).prop_map(|m| m.into_iter().collect())
}

fn valid_devices() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        prop_oneof![
            Just(json!({"platform": "ios", "token": IOS})),
            Just(json!({"platform": "APNS", "token": IOS.to_uppercase()})),
            Just(json!({"platform": "android", "token": ANDROID})),
            Just(json!({"platform": "fcm", "token": ANDROID, "app": "x"})),
        ],
        0..3,
    )
    .prop_map(Value::Array)
}

fn entry() -> impl Strategy<Value = (Value, Expected)> {
    prop_oneof![
        4 => user_id().prop_map(|id| (Value::String(id.clone()), Ok(id))),
        3 => (user_id(), vars(), proptest::option::of(valid_devices()), proptest::option::of(nested())).prop_map(
            |(id, vars, devices, extra)| {
                let mut obj = Map::new();
                obj.insert("user_id".into(), Value::String(id.clone()));
                obj.insert("vars".into(), Value::Object(vars));
                if let Some(d) = devices {
                    obj.insert("devices".into(), d);
                }
                if let Some(x) = extra {
                    obj.insert("extra".into(), x);
                }
                (Value::Object(obj), Ok(id))
            }
        ),
        1 => (0u32..1_000_000).prop_map(|n| (json!({"user_id": n}), Ok(n.to_string()))),
        1 => any::<i64>().prop_map(|n| (json!(n), Err("not_a_user_entry"))),
        1 => prop_oneof![Just(json!(true)), Just(json!(null)), Just(json!(["u-1"]))]
            .prop_map(|v| (v, Err("not_a_user_entry"))),
        1 => prop_oneof![Just(json!("")), Just(json!(" \t ")), Just(json!({"vars": {}})), Just(json!({"user_id": ""}))]
            .prop_map(|v| (v, Err("missing_user_id"))),
        1 => user_id().prop_map(|id| (json!({"user_id": id, "vars": [1]}), Err("bad_vars"))),
        1 => user_id().prop_map(|id| (
            json!({"user_id": id, "devices": [{"platform": "ios", "token": IOS}, {"platform": "wp", "token": IOS}]}),
            Err("unknown_platform"),
        )),
        1 => user_id().prop_map(|id| (
            json!({"user_id": id, "devices": [{"platform": "android", "token": "short"}]}),
            Err("malformed_token"),
        )),
        1 => user_id().prop_map(|id| (json!({"user_id": id, "devices": "x"}), Err("not_a_user_entry"))),
    ]
}

#[derive(Debug, Clone)]
struct HeaderSpec {
    campaign: String,
    variant: Option<String>,
    category: Option<String>,
    title: String,
    body: Option<String>,
    extra: Option<Value>,
}

fn header_spec() -> impl Strategy<Value = HeaderSpec> {
    (
        user_id(),
        proptest::option::of(tricky_text()),
        proptest::option::of(tricky_text()),
        user_id(),
        proptest::option::of(tricky_text()),
        proptest::option::of(nested()),
    )
        .prop_map(|(campaign, variant, category, title, body, extra)| HeaderSpec {
            campaign,
            variant,
            category,
            title,
            body,
            extra,
        })
}

impl HeaderSpec {
    /// The header's top-level fields, each as compact JSON.
    fn fields(&self) -> Vec<(String, String)> {
        let mut notification = json!({"title": self.title, "data": {"k": "v"}, "apns": {"topic": "t"}});
        if let Some(b) = &self.body {
            notification["body"] = json!(b);
        }
        let mut out = vec![("campaign".to_owned(), json!(self.campaign)), ("notification".to_owned(), notification)];
        if let Some(v) = &self.variant {
            out.push(("variant".into(), json!(v)));
        }
        if let Some(c) = &self.category {
            out.push(("category".into(), json!(c)));
        }
        if let Some(x) = &self.extra {
            out.push(("x-extra".into(), x.clone()));
        }
        out.into_iter().map(|(k, v)| (json!(k).to_string(), v.to_string())).collect()
    }
}

/// A generated batch file and what reading it must give.
#[derive(Debug, Clone)]
struct File {
    bytes: Vec<u8>,
    header: HeaderSpec,
    /// Per entry: its offset, its line (JSONL), the end of its value, and
    /// what it must read as.
    entries: Vec<(u64, Option<u64>, u64, Expected)>,
}

#[derive(Debug, Clone)]
struct Shape {
    header: HeaderSpec,
    entries: Vec<(Value, Expected)>,
    bom: bool,
    /// Whitespace pieces, used round-robin between tokens.
    spaces: Vec<String>,
    /// JSON: key order (a permutation of header fields plus `users`);
    /// JSONL: the header's key order.
    order_seed: Vec<usize>,
    pretty: Vec<bool>,
    crlf: Vec<bool>,
    blank_lines: Vec<u8>,
    final_newline: bool,
}

fn shape(max_entries: usize) -> impl Strategy<Value = Shape> {
    (
        header_spec(),
        prop::collection::vec(entry(), 0..max_entries),
        any::<bool>(),
        prop::collection::vec(proptest::string::string_regex("[ \t\r\n]{0,3}").expect("valid regex"), 1..8),
        prop::collection::vec(0usize..1000, 6),
        prop::collection::vec(any::<bool>(), 1..8),
        prop::collection::vec(any::<bool>(), 1..8),
        prop::collection::vec(0u8..3, 1..8),
        any::<bool>(),
    )
        .prop_map(|(header, entries, bom, spaces, order_seed, pretty, crlf, blank_lines, final_newline)| Shape {
            header,
            entries,
            bom,
            spaces,
            order_seed,
            pretty,
            crlf,
            blank_lines,
            final_newline,
        })
}

/// Orders `items` by the seed (a stable, seed-driven shuffle).
fn ordered<T>(items: Vec<T>, seed: &[usize]) -> Vec<T> {
    let mut keyed: Vec<(usize, T)> =
        items.into_iter().enumerate().map(|(i, t)| (seed.get(i).copied().unwrap_or(i), t)).collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, t)| t).collect()
}

impl Shape {
    fn space(&self, i: usize) -> &str {
        &self.spaces[i % self.spaces.len()]
    }

    /// Horizontal whitespace only (a JSONL line cannot contain a newline).
    fn inline_space(&self, i: usize) -> String {
        self.space(i).replace(['\r', '\n'], " ")
    }

    fn render(&self, encoding: Encoding) -> File {
        let mut out: Vec<u8> = if self.bom { vec![0xEF, 0xBB, 0xBF] } else { Vec::new() };
        let mut entries = Vec::new();
        match encoding {
            Encoding::Json => {
                let mut parts: Vec<Option<(String, String)>> = self.header.fields().into_iter().map(Some).collect();
                parts.push(None); // users
                let parts = ordered(parts, &self.order_seed);
                out.extend_from_slice(self.space(0).as_bytes());
                out.push(b'{');
                for (k, part) in parts.iter().enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(self.space(k + 1).as_bytes());
                    match part {
                        Some((key, value)) => {
                            out.extend_from_slice(key.as_bytes());
                            out.extend_from_slice(self.space(k + 2).as_bytes());
                            out.push(b':');
                            out.extend_from_slice(value.as_bytes());
                        }
                        None => {
                            out.extend_from_slice(b"\"users\":");
                            out.extend_from_slice(self.space(k).as_bytes());
                            out.push(b'[');
                            for (i, (value, expected)) in self.entries.iter().enumerate() {
                                if i > 0 {
                                    out.extend_from_slice(self.space(i + 3).as_bytes());
                                    out.push(b',');
                                }
                                out.extend_from_slice(self.space(i).as_bytes());
                                let offset = out.len() as u64;
                                let text = if self.pretty[i % self.pretty.len()] {
                                    serde_json::to_string_pretty(value)
                                } else {
                                    serde_json::to_string(value)
                                }
                                .expect("a Value serializes");
                                out.extend_from_slice(text.as_bytes());
                                entries.push((offset, None, out.len() as u64, expected.clone()));
                            }
                            out.extend_from_slice(self.space(1).as_bytes());
                            out.push(b']');
                        }
                    }
                    out.extend_from_slice(self.space(k + 4).as_bytes());
                }
                out.push(b'}');
                out.extend_from_slice(self.space(2).as_bytes());
            }
            Encoding::Jsonl => {
                let fields = ordered(self.header.fields(), &self.order_seed);
                let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                let eol = |i: usize| if self.crlf[i % self.crlf.len()] { "\r\n" } else { "\n" };
                out.extend_from_slice(format!("{}{{{}}}{}", self.inline_space(0), body.join(","), eol(0)).as_bytes());
                let mut line = 2u64;
                for (i, (value, expected)) in self.entries.iter().enumerate() {
                    for b in 0..self.blank_lines[i % self.blank_lines.len()] {
                        out.extend_from_slice(format!("{}{}", self.inline_space(i + b as usize), eol(i)).as_bytes());
                        line += 1;
                    }
                    let offset = out.len() as u64;
                    out.extend_from_slice(self.inline_space(i + 1).as_bytes());
                    out.extend_from_slice(value.to_string().as_bytes());
                    let end = out.len() as u64;
                    out.extend_from_slice(self.inline_space(i + 2).as_bytes());
                    if i + 1 < self.entries.len() || self.final_newline {
                        out.extend_from_slice(eol(i + 1).as_bytes());
                    }
                    entries.push((offset, Some(line), end, expected.clone()));
                    line += 1;
                }
            }
        }
        File { bytes: out, header: self.header.clone(), entries }
    }
}

// ------------------------------------------------------------------- reading

/// Everything one pass over a file gives.
#[derive(Debug)]
struct Read {
    layout: Option<Layout>,
    /// Each entry with the reader's position and line just after it.
    items: Vec<(RawItem, u64, u64)>,
    error: Option<ReadError>,
}

fn reader_at(bytes: &[u8], offset: u64, encoding: Encoding, line: u64, cap: usize) -> EntryReader<BufReader<&[u8]>> {
    EntryReader::new(BufReader::with_capacity(cap, &bytes[offset as usize..]), offset, encoding, line)
}

async fn drain(mut reader: EntryReader<BufReader<&[u8]>>, read: &mut Read) {
    loop {
        match reader.next_entry().await {
            Ok(Some(item)) => read.items.push((item, reader.position(), reader.line())),
            Ok(None) => return,
            Err(e) => {
                read.error = Some(e);
                return;
            }
        }
    }
}

fn read_file(bytes: &[u8], encoding: Encoding, cap: usize) -> Read {
    block_on(async {
        let mut read = Read { layout: None, items: Vec::new(), error: None };
        match discover(BufReader::with_capacity(cap, bytes), encoding).await {
            Err(e) => read.error = Some(e),
            Ok(layout) => {
                if layout.has_users {
                    let reader = reader_at(bytes, layout.users_start, encoding, layout.first_line, cap);
                    drain(reader, &mut read).await;
                }
                read.layout = Some(layout);
            }
        }
        read
    })
}

fn read_from(bytes: &[u8], offset: u64, encoding: Encoding, line: u64, cap: usize) -> Read {
    block_on(async {
        let mut read = Read { layout: None, items: Vec::new(), error: None };
        drain(reader_at(bytes, offset, encoding, line, cap), &mut read).await;
        read
    })
}

fn outcome(item: &RawItem) -> Expected {
    match &item.entry {
        Ok(u) => Ok(u.user_id.clone()),
        Err(r) => Err(r.key()),
    }
}

/// An error's byte offset, when it has one.
fn error_offset(e: &ReadError) -> Option<u64> {
    match e {
        ReadError::Malformed { offset, .. } | ReadError::TooLarge { offset, .. } => Some(*offset),
        ReadError::Header(_) | ReadError::Io(_) => None,
    }
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![Just(Encoding::Json), Just(Encoding::Jsonl)]
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config(384))]

    /// Entries read == entries written, in order, each at its offset and line,
    /// invalid ones with the right reason; the header survives any key order.
    #[test]
    fn reads_exactly_what_was_written(shape in shape(24), encoding in encoding(), cap in 1usize..64) {
        let file = shape.render(encoding);
        let read = read_file(&file.bytes, encoding, cap);
        prop_assert!(read.error.is_none(), "{:?}\n{}", read.error, String::from_utf8_lossy(&file.bytes));
        let layout = read.layout.expect("no error, so a layout");
        prop_assert_eq!(&layout.header.campaign, &file.header.campaign);
        prop_assert_eq!(&layout.header.variant, &file.header.variant);
        prop_assert_eq!(&layout.header.category, &file.header.category);
        prop_assert_eq!(layout.header.notification.title.as_deref(), Some(file.header.title.as_str()));
        prop_assert_eq!(&layout.header.notification.body, &file.header.body);
        prop_assert_eq!(read.items.len(), file.entries.len());
        for ((item, _, _), (offset, line, _, expected)) in read.items.iter().zip(&file.entries) {
            prop_assert_eq!(item.offset, *offset);
            prop_assert_eq!(item.line, *line);
            prop_assert_eq!(&outcome(item), expected);
        }
    }

    /// A fresh reader started at any position the reader returned (with the
    /// line it returned) yields exactly the remaining entries: offsets, lines
    /// and contents.
    #[test]
    fn resumes_from_every_returned_position(shape in shape(20), encoding in encoding(), cap in 1usize..64) {
        let file = shape.render(encoding);
        let read = read_file(&file.bytes, encoding, 64);
        prop_assert!(read.error.is_none(), "{:?}", read.error);
        let layout = read.layout.expect("no error, so a layout");
        let mut resume_points = vec![(layout.users_start, layout.first_line)];
        resume_points.extend(read.items.iter().map(|(_, pos, line)| (*pos, *line)));
        for (i, (pos, line)) in resume_points.into_iter().enumerate() {
            let rest = read_from(&file.bytes, pos, encoding, line, cap);
            prop_assert!(rest.error.is_none(), "from {}: {:?}", pos, rest.error);
            let expected: Vec<&RawItem> = read.items[i..].iter().map(|(item, _, _)| item).collect();
            let got: Vec<&RawItem> = rest.items.iter().map(|(item, _, _)| item).collect();
            prop_assert_eq!(got, expected, "resuming at byte {} (after entry {})", pos, i);
        }
    }

    /// Arbitrary bytes, biased towards JSON punctuation: no panic, no hang,
    /// and every error that names an offset names one inside the file.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(b"{}[],:\"\\ \n\r\tu01-e.tfnl".to_vec()),
                1 => any::<u8>(),
            ],
            0..400,
        ),
        encoding in encoding(),
        cap in 1usize..32,
    ) {
        for read in [read_file(&bytes, encoding, cap), read_from(&bytes, 0, encoding, 1, cap)] {
            if let Some(at) = read.error.as_ref().and_then(error_offset) {
                prop_assert!(at <= bytes.len() as u64, "offset {} past the end ({} bytes)", at, bytes.len());
            }
            for (item, pos, _) in &read.items {
                prop_assert!(item.offset < *pos && *pos <= bytes.len() as u64);
            }
        }
    }

    /// A valid file cut short anywhere: the entries read are the ones written
    /// (a prefix), and an error names an offset inside what is left. A `.json`
    /// file is always refused unless the cut is after its closing brace.
    #[test]
    fn truncated_files_give_a_prefix_then_an_error(
        shape in shape(12), encoding in encoding(), cut in any::<prop::sample::Index>(), cap in 1usize..64,
    ) {
        let file = shape.render(encoding);
        let cut = cut.index(file.bytes.len() + 1);
        let bytes = &file.bytes[..cut];
        let read = read_file(bytes, encoding, cap);
        if let Some(at) = read.error.as_ref().and_then(error_offset) {
            prop_assert!(at <= cut as u64, "offset {} past the cut at {}", at, cut);
        }
        prop_assert!(read.items.len() <= file.entries.len());
        for ((item, _, _), (offset, line, end, expected)) in read.items.iter().zip(&file.entries) {
            prop_assert_eq!(item.offset, *offset);
            prop_assert_eq!(item.line, *line);
            if *end <= cut as u64 {
                prop_assert_eq!(&outcome(item), expected);
            } else {
                // Only a bare number can be cut and stay valid (`42` → `4`).
                prop_assert_eq!(outcome(item), Err("not_a_user_entry"));
            }
        }
        if encoding == Encoding::Json {
            let closing = file.bytes.iter().rposition(|&b| b == b'}').expect("a closing brace") + 1;
            prop_assert_eq!(read.error.is_some(), cut < closing, "cut at {} of {}", cut, file.bytes.len());
        } else if read.error.is_none() && read.layout.is_some() {
            // A JSONL file cut at a line end reads as the entries before it.
            let whole = file.entries.iter().filter(|(_, _, end, _)| *end <= cut as u64).count();
            prop_assert!(read.items.len() >= whole);
        }
    }

    /// A valid file with one byte flipped, or garbage inserted: no panic, any
    /// offset named is inside the file, and entries that end before the damage
    /// read as written.
    #[test]
    fn damaged_files_never_panic(
        shape in shape(12),
        encoding in encoding(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        garbage in prop::collection::vec(any::<u8>(), 0..6),
        cap in 1usize..64,
    ) {
        let file = shape.render(encoding);
        let at = at.index(file.bytes.len().max(1));
        let mut bytes = file.bytes.clone();
        if garbage.is_empty() {
            if let Some(b) = bytes.get_mut(at) {
                *b ^= flip;
            }
        } else {
            bytes.splice(at..at, garbage.iter().copied());
        }
        let read = read_file(&bytes, encoding, cap);
        if let Some(off) = read.error.as_ref().and_then(error_offset) {
            prop_assert!(off <= bytes.len() as u64, "offset {} past the end ({})", off, bytes.len());
        }
        for ((item, _, _), (offset, line, end, expected)) in read.items.iter().zip(&file.entries) {
            if *end < at as u64 {
                prop_assert_eq!(item.offset, *offset);
                prop_assert_eq!(item.line, *line);
                prop_assert_eq!(&outcome(item), expected);
            }
        }
    }
}
