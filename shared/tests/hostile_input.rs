//! Hostile batch files against the reader (issue #8, item 5): truncation,
//! huge entries, deep nesting, non-UTF-8 bytes, byte order marks, duplicate
//! keys and CRLF. For each: no panic, an error names the byte offset (and the
//! line for JSONL), and the entries before the problem read as written.
//!
//! What send-batch does with the same files (sent and accounted for) is in
//! functions/send-batch/tests/hostile.rs.

use serde_json::json;
use shared::batch::{DEFAULT_MAX_ENTRY_BYTES, Encoding, EntryReader, Layout, RawItem, ReadError, discover};
use tokio::io::BufReader;

const HEADER: &str = r#"{"campaign":"c","notification":{"title":"Hi","body":"Hello {{name}}"}}"#;

/// Everything a read from the start gives: the layout, the entries, the error.
struct Read {
    layout: Option<Layout>,
    items: Vec<RawItem>,
    error: Option<ReadError>,
}

impl Read {
    fn ids(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|i| match &i.entry {
                Ok(u) => u.user_id.clone(),
                Err(r) => format!("invalid:{}", r.key()),
            })
            .collect()
    }

    /// The error, which must be malformed JSON; returns (offset, line, message).
    fn malformed(&self) -> (u64, Option<u64>, String) {
        match &self.error {
            Some(ReadError::Malformed { offset, line, message }) => (*offset, *line, message.clone()),
            other => panic!("expected malformed JSON, got {other:?} after {:?}", self.ids()),
        }
    }
}

async fn read(bytes: &[u8], encoding: Encoding, cap: usize) -> Read {
    let mut out = Read { layout: None, items: Vec::new(), error: None };
    let layout = match discover(BufReader::with_capacity(cap, bytes), encoding).await {
        Ok(l) => l,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    if layout.has_users {
        let inner = BufReader::with_capacity(cap, &bytes[layout.users_start as usize..]);
        let mut reader = EntryReader::new(inner, layout.users_start, encoding, layout.first_line);
        loop {
            match reader.next_entry().await {
                Ok(Some(item)) => out.items.push(item),
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
    }
    out.layout = Some(layout);
    out
}

fn jsonl(lines: &[&str]) -> Vec<u8> {
    let mut out = HEADER.to_owned();
    for l in lines {
        out.push('\n');
        out.push_str(l);
    }
    out.into_bytes()
}

fn json_file(users: &str) -> Vec<u8> {
    format!(r#"{{"campaign":"c","notification":{{"title":"Hi"}},"users":[{users}]}}"#).into_bytes()
}

fn at(bytes: &[u8], needle: &[u8]) -> u64 {
    bytes.windows(needle.len()).position(|w| w == needle).expect("needle in the file") as u64
}

// ---------------------------------------------------------------- truncation

#[tokio::test]
async fn truncated_json_files_are_refused_at_the_cut() {
    let file = json_file(r#""u-1", {"user_id": "u-2", "vars": {"name": "Ann"}}, "u-3""#);
    // Cut inside the header, a key, a string entry, an object entry, after a
    // comma, and just before the closing bracket and brace.
    let cuts = [5, 14, at(&file, b"u-1") as usize + 1, at(&file, b"Ann") as usize, at(&file, b" \"u-3") as usize];
    for cut in cuts.into_iter().chain([file.len() - 2, file.len() - 1]) {
        let r = read(&file[..cut], Encoding::Json, 7).await;
        let (offset, line, message) = r.malformed();
        assert_eq!(line, None);
        assert_eq!(offset, cut as u64, "cut at {cut}: {message}");
        assert!(message.contains("truncated"), "cut at {cut}: {message}");
        // The header pass walks the whole object before anything is read.
        assert!(r.items.is_empty());
    }
    assert!(read(&file, Encoding::Json, 7).await.error.is_none());
}

#[tokio::test]
async fn truncated_jsonl_files_keep_the_entries_before_the_cut() {
    let file = jsonl(&[r#""u-1""#, r#"{"user_id": "u-2", "vars": {"name": "Ann"}}"#, r#""u-3""#]);
    let line3 = at(&file, b"{\"user_id\": \"u-2\"");
    for cut in [line3 as usize + 1, at(&file, b"Ann") as usize, at(&file, b"\"u-3") as usize + 2] {
        let r = read(&file[..cut], Encoding::Jsonl, 5).await;
        let (offset, line, message) = r.malformed();
        let want_line = if cut > at(&file, b"\"u-3") as usize { 4 } else { 3 };
        assert_eq!(line, Some(want_line), "cut at {cut}: {message}");
        assert!(offset <= cut as u64 && offset >= line3, "cut at {cut}: offset {offset}");
        assert_eq!(r.ids()[..2.min(want_line as usize - 2)], ["u-1", "u-2"][..want_line as usize - 2]);
    }
    // Cut at a line end: indistinguishable from a shorter file (the summary's
    // entry count is the only witness; see the send-batch tests).
    let r = read(&file[..line3 as usize], Encoding::Jsonl, 5).await;
    assert!(r.error.is_none());
    assert_eq!(r.ids(), ["u-1"]);
    // Cut inside the header line.
    let r = read(&file[..30], Encoding::Jsonl, 5).await;
    let (offset, line, message) = r.malformed();
    // At the end of input serde_json points at the last byte it read.
    assert_eq!((offset, line), (29, Some(1)), "{message}");
}

// -------------------------------------------------------------- huge entries

/// A user whose `vars` hold `size` bytes.
fn huge_user(id: &str, size: usize) -> String {
    json!({"user_id": id, "vars": {"blob": "x".repeat(size)}}).to_string()
}

#[tokio::test]
async fn a_10_mb_entry_is_read_as_one_user() {
    // 10 MB is under DEFAULT_MAX_ENTRY_BYTES (16 MiB): it is a (strange) user,
    // not a broken file. Whether it can be sent is the renderer's call: its
    // vars only count if the notification uses them.
    const { assert!(10_000_000 < DEFAULT_MAX_ENTRY_BYTES) };
    let big = huge_user("u-big", 10_000_000);
    for (file, encoding) in [
        (jsonl(&[r#""u-1""#, &big, r#""u-3""#]), Encoding::Jsonl),
        (json_file(&format!(r#""u-1",{big},"u-3""#)), Encoding::Json),
    ] {
        let r = read(&file, encoding, 64 * 1024).await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(r.ids(), ["u-1", "u-big", "u-3"]);
        let user = r.items[1].entry.as_ref().unwrap();
        assert_eq!(user.vars["blob"].as_str().map(str::len), Some(10_000_000));
    }
}

#[tokio::test]
async fn an_entry_over_16_mib_stops_the_read_naming_its_offset() {
    let big = huge_user("u-big", DEFAULT_MAX_ENTRY_BYTES + 10);
    let file = jsonl(&[r#""u-1""#, &big, r#""u-3""#]);
    let r = read(&file, Encoding::Jsonl, 64 * 1024).await;
    match &r.error {
        Some(e @ ReadError::TooLarge { offset, line, limit }) => {
            assert_eq!(
                (*offset, *line, *limit),
                (at(&file, b"{\"user_id\":\"u-big"), Some(3), DEFAULT_MAX_ENTRY_BYTES)
            );
            let message = e.to_string();
            assert!(message.contains(&format!("byte {offset} (line 3)")), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.ids(), ["u-1"]);

    let file = json_file(&format!(r#""u-1",{big},"u-3""#));
    let r = read(&file, Encoding::Json, 64 * 1024).await;
    match &r.error {
        Some(ReadError::TooLarge { offset, line: None, .. }) => assert_eq!(*offset, at(&file, b"{\"user_id\":\"u-big")),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.ids(), ["u-1"]);
}

// ------------------------------------------------------------------- nesting

#[tokio::test]
async fn deep_nesting_is_refused_at_the_bracket_that_goes_too_deep() {
    // JSON: the scanner refuses the 129th level, before serde_json recurses.
    let deep = format!(r#"{{"user_id":"u-2","vars":{{"a":{}{}}}}}"#, "[".repeat(200), "]".repeat(200));
    let file = json_file(&format!(r#""u-1",{deep},"u-3""#));
    let r = read(&file, Encoding::Json, 16).await;
    let (offset, _, message) = r.malformed();
    assert!(message.contains("nesting deeper than 128"), "{message}");
    // Level 1 is the entry, 2 `vars`, so the 126th `[` is level 128.
    let first_bracket = at(&file, b"[[");
    assert_eq!(offset, first_bracket + 126);
    assert!(r.items.is_empty(), "the header pass refuses it before anything is read");

    // JSONL has no scanner: serde_json's own recursion limit (128) answers.
    let file = jsonl(&[r#""u-1""#, &deep, r#""u-3""#]);
    let r = read(&file, Encoding::Jsonl, 16).await;
    let (offset, line, message) = r.malformed();
    assert_eq!(line, Some(3));
    assert!(message.contains("recursion limit"), "{message}");
    assert!(offset > at(&file, b"[[") && offset < at(&file, b"]]"), "{offset}");
    assert_eq!(r.ids(), ["u-1"]);

    // A million levels: still an error, not a stack overflow.
    let abyss = "[".repeat(1_000_000);
    let r = read(&jsonl(&[&abyss]), Encoding::Jsonl, 4096).await;
    assert!(r.malformed().2.contains("recursion limit"));
    let r = read(&json_file(&abyss), Encoding::Json, 4096).await;
    assert!(r.malformed().2.contains("nesting deeper than 128"));
}

#[tokio::test]
async fn nesting_within_the_limit_is_a_user() {
    // 120 levels inside `vars` (plus the entry and `vars` itself).
    let deep = format!(r#"{{"user_id":"u-2","vars":{{"a":{}{}}}}}"#, "[".repeat(120), "]".repeat(120));
    for (file, encoding) in [(json_file(&deep), Encoding::Json), (jsonl(&[&deep]), Encoding::Jsonl)] {
        let r = read(&file, encoding, 16).await;
        assert!(r.error.is_none(), "{encoding:?}: {:?}", r.error);
        assert_eq!(r.ids(), ["u-2"]);
    }
}

#[tokio::test]
async fn deep_nesting_in_the_header_is_refused() {
    let file = format!(r#"{{"campaign":"c","x":{},"notification":{{"title":"t"}},"users":[]}}"#, "[".repeat(300));
    let r = read(file.as_bytes(), Encoding::Json, 8).await;
    let (offset, _, message) = r.malformed();
    assert!(message.contains("nesting deeper than 128"), "{message}");
    assert_eq!(offset, at(file.as_bytes(), b"[") + 128);
    let line1 = format!(r#"{{"campaign":"c","x":{},"notification":{{"title":"t"}}}}"#, "[".repeat(300));
    let r = read(format!("{line1}\n\"u-1\"\n").as_bytes(), Encoding::Jsonl, 8).await;
    let (_, line, message) = r.malformed();
    assert_eq!(line, Some(1));
    assert!(message.contains("recursion limit"), "{message}");
}

// --------------------------------------------------------------- non-UTF-8

#[tokio::test]
async fn non_utf8_inside_a_string_is_malformed_at_that_byte() {
    let mut bad = br#"{"user_id": "u-2", "vars": {"name": "Zo"#.to_vec();
    bad.extend_from_slice(&[0xFF, 0xFE]);
    bad.extend_from_slice(br#""}}"#);
    let mut file = json_file(r#""u-1","#);
    let insert_at = file.len() - 2; // before `]}`
    file.splice(insert_at..insert_at, bad.iter().copied());
    let r = read(&file, Encoding::Json, 8).await;
    let (offset, line, message) = r.malformed();
    assert_eq!(line, None);
    assert!(message.contains("invalid unicode"), "{message}");
    assert_eq!(offset, at(&file, &[0xFF]), "{message}");
    assert_eq!(r.ids(), ["u-1"]);

    let mut file = jsonl(&[r#""u-1""#]);
    file.push(b'\n');
    file.extend_from_slice(&bad);
    file.extend_from_slice(b"\n\"u-3\"\n");
    let r = read(&file, Encoding::Jsonl, 8).await;
    let (offset, line, _) = r.malformed();
    assert_eq!((offset, line), (at(&file, &[0xFF]), Some(3)));
    assert_eq!(r.ids(), ["u-1"]);
}

#[tokio::test]
async fn non_utf8_between_tokens_is_malformed_at_that_byte() {
    // Between entries of a .json file: the header pass refuses it.
    let mut file = json_file(r#""u-1", "u-2""#);
    let between = at(&file, b" \"u-2") as usize;
    file[between] = 0xC0;
    let r = read(&file, Encoding::Json, 8).await;
    assert_eq!(r.malformed().0, between as u64);
    assert!(r.items.is_empty());

    // Between tokens inside an entry: the header pass skips entries without
    // parsing them, so the entries before it are read first.
    let mut file = json_file(r#""u-1", {"user_id": "u-2"}, "u-3""#);
    let inside = at(&file, b" \"u-2\"") as usize;
    file[inside] = 0x80;
    let r = read(&file, Encoding::Json, 8).await;
    assert_eq!(r.malformed().0, inside as u64);
    assert_eq!(r.ids(), ["u-1"]);

    let mut file = jsonl(&[r#""u-1""#, r#"{"user_id": "u-2"}"#, r#""u-3""#]);
    let inside = at(&file, b" \"u-2\"") as usize;
    file[inside] = 0x80;
    let r = read(&file, Encoding::Jsonl, 8).await;
    assert_eq!((r.malformed().0, r.malformed().1), (inside as u64, Some(3)));
    assert_eq!(r.ids(), ["u-1"]);
}

#[tokio::test]
async fn non_utf8_in_the_header_is_malformed() {
    let mut file = jsonl(&[r#""u-1""#]);
    let hi = at(&file, b"Hi") as usize;
    file[hi] = 0xFF;
    let r = read(&file, Encoding::Jsonl, 8).await;
    let (offset, line, _) = r.malformed();
    assert_eq!((offset, line), (hi as u64, Some(1)));

    let mut file = json_file(r#""u-1""#);
    let hi = at(&file, b"Hi") as usize;
    file[hi] = 0xFF;
    let r = read(&file, Encoding::Json, 8).await;
    assert_eq!(r.malformed().0, hi as u64);
}

// ------------------------------------------------------------ byte order mark

fn with_bom(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend_from_slice(bytes);
    out
}

#[tokio::test]
async fn a_bom_is_skipped_and_offsets_stay_absolute() {
    let plain = jsonl(&[r#""u-1""#, r#""u-2""#]);
    let bommed = with_bom(&plain);
    for cap in [1, 2, 3, 4, 64] {
        let r = read(&bommed, Encoding::Jsonl, cap).await;
        assert!(r.error.is_none(), "capacity {cap}: {:?}", r.error);
        assert_eq!(r.ids(), ["u-1", "u-2"]);
        assert_eq!(r.items[0].offset, at(&plain, b"\"u-1") + 3);
        assert_eq!(r.items[0].line, Some(2));
    }
    let plain = json_file(r#""u-1", "u-2""#);
    let bommed = with_bom(&plain);
    for cap in [1, 2, 3, 64] {
        let r = read(&bommed, Encoding::Json, cap).await;
        assert!(r.error.is_none(), "capacity {cap}: {:?}", r.error);
        assert_eq!(r.items[1].offset, at(&plain, b"\"u-2") + 3);
    }
}

#[tokio::test]
async fn a_bom_anywhere_else_is_malformed() {
    // Two BOMs (a file concatenated with another export), and a BOM on an
    // entry line: neither is whitespace.
    let r = read(&with_bom(&with_bom(&jsonl(&[r#""u-1""#]))), Encoding::Jsonl, 64).await;
    let (offset, line, _) = r.malformed();
    assert_eq!((offset, line), (3, Some(1)));

    let mut file = jsonl(&[r#""u-1""#]);
    file.push(b'\n');
    let second = file.len() as u64;
    file.extend_from_slice(&with_bom(br#""u-2""#));
    let r = read(&file, Encoding::Jsonl, 64).await;
    let (offset, line, _) = r.malformed();
    assert_eq!((offset, line), (second, Some(3)));
    assert_eq!(r.ids(), ["u-1"]);

    // A broken BOM (0xEF, then not 0xBB 0xBF) is refused at byte 0.
    for cap in [1, 64] {
        let mut file = vec![0xEF, 0xBB];
        file.extend_from_slice(&jsonl(&[]));
        let r = read(&file, Encoding::Jsonl, cap).await;
        assert_eq!(r.malformed().0, 0);
    }
}

// ------------------------------------------------------------ duplicate keys

#[tokio::test]
async fn duplicate_keys_take_the_last_value() {
    // Decided behaviour, the same in both encodings and every run: a key that
    // appears twice in the header or in an entry takes its last value (what
    // serde_json does for objects, and what the .json header pass does for
    // top-level keys). Only `users` twice is refused: two audiences in one
    // file is not something to guess about.
    let header = r#"{"campaign":"first","notification":{"title":"A","title":"B"},"campaign":"second""#;
    let entry = r#"{"user_id":"u-a","vars":{"name":"x"},"user_id":"u-b","vars":{"name":"y","name":"z"}}"#;
    let jsonl_file = format!("{header}}}\n{entry}\n");
    let json_file = format!(r#"{header},"users":[{entry}]}}"#);
    for (file, encoding) in [(jsonl_file, Encoding::Jsonl), (json_file, Encoding::Json)] {
        let r = read(file.as_bytes(), encoding, 8).await;
        assert!(r.error.is_none(), "{encoding:?}: {:?}", r.error);
        let h = &r.layout.as_ref().unwrap().header;
        assert_eq!((h.campaign.as_str(), h.notification.title.as_deref()), ("second", Some("B")));
        let user = r.items[0].entry.as_ref().unwrap();
        assert_eq!(user.user_id, "u-b");
        assert_eq!(user.vars.len(), 1);
        assert_eq!(user.vars["name"], "z");
    }
    let file = r#"{"campaign":"c","users":["u-1"],"notification":{"title":"t"},"users":["u-2"]}"#;
    let r = read(file.as_bytes(), Encoding::Json, 8).await;
    let (offset, _, message) = r.malformed();
    assert!(message.contains("`users` appears twice"), "{message}");
    assert_eq!(offset, file.rfind("\"users\"").unwrap() as u64);
}

// ---------------------------------------------------------------------- CRLF

#[tokio::test]
async fn crlf_line_ends_count_lines_and_offsets_like_lf() {
    let lf = jsonl(&[r#""u-1""#, "", r#"{"user_id": "u-2"}"#, r#""u-3""#]);
    let crlf = String::from_utf8(lf.clone()).unwrap().replace('\n', "\r\n").into_bytes();
    let a = read(&lf, Encoding::Jsonl, 3).await;
    let b = read(&crlf, Encoding::Jsonl, 3).await;
    assert!(a.error.is_none() && b.error.is_none());
    assert_eq!(a.ids(), ["u-1", "u-2", "u-3"]);
    assert_eq!(a.ids(), b.ids());
    let lines = |r: &Read| r.items.iter().map(|i| i.line).collect::<Vec<_>>();
    assert_eq!(lines(&b), [Some(2), Some(4), Some(5)]);
    assert_eq!(lines(&a), lines(&b));
    for item in &b.items {
        let start = item.offset as usize;
        assert!(crlf[..start].ends_with(b"\r\n"), "entry offsets are line starts");
    }
    // An error on a CRLF line names the line and the byte.
    let bad = String::from_utf8(jsonl(&[r#""u-1""#, r#"{"user_id": oops}"#])).unwrap().replace('\n', "\r\n");
    let r = read(bad.as_bytes(), Encoding::Jsonl, 3).await;
    let (offset, line, _) = r.malformed();
    assert_eq!((offset, line), (bad.find("oops").unwrap() as u64, Some(3)));
}

#[tokio::test]
async fn lone_cr_line_ends_are_one_long_line() {
    // Classic Mac line ends: there is no `\n`, so the header line runs into
    // the users and the file is refused at line 1, not misread.
    let file = String::from_utf8(jsonl(&[r#""u-1""#, r#""u-2""#])).unwrap().replace('\n', "\r");
    let r = read(file.as_bytes(), Encoding::Jsonl, 8).await;
    let (offset, line, message) = r.malformed();
    assert_eq!(line, Some(1));
    assert_eq!(offset, file.find("\"u-1").unwrap() as u64, "{message}");
}

// ------------------------------------------------------------ header offsets

#[tokio::test]
async fn errors_in_a_pretty_printed_header_name_the_right_byte() {
    let file =
        "{\n  \"campaign\": \"c\",\n  \"notification\": {\n    \"title\": \"t\",\n    oops\n  },\n  \"users\": []\n}\n";
    let r = read(file.as_bytes(), Encoding::Json, 8).await;
    let (offset, _, message) = r.malformed();
    assert_eq!(offset, file.find("oops").unwrap() as u64, "{message}");
}

#[tokio::test]
async fn errors_in_a_jsonl_header_count_the_bom_and_leading_spaces() {
    let file = with_bom(b"  {\"campaign\": oops}\n\"u-1\"\n");
    let r = read(&file, Encoding::Jsonl, 8).await;
    let (offset, line, message) = r.malformed();
    assert_eq!((offset, line), (at(&file, b"oops"), Some(1)), "{message}");
}
