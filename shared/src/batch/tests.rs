use super::*;
use tokio::io::BufReader;

const IOS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn json_file() -> String {
    format!(
        r#"{{
  "users": [
    "u-1",
    {{"user_id": "u-2", "vars": {{"name": "Zoë 🎉"}}}},
    {{"user_id": "u-3", "devices": [{{"platform": "ios", "token": "{IOS}"}}]}},
    42,
    "u-\"5\""
  ],
  "notification": {{"title": "Hi", "body": "See what's new, {{{{name}}}}"}},
  "campaign": "day21-inactive",
  "category": "re-engagement"
}}"#
    )
}

fn jsonl_file() -> String {
    format!(
        "{{\"campaign\":\"day21-inactive\",\"category\":\"re-engagement\",\"notification\":{{\"title\":\"Hi\",\"body\":\"See what's new, {{{{name}}}}\"}}}}\r\n\
         \"u-1\"\r\n\
         {{\"user_id\": \"u-2\", \"vars\": {{\"name\": \"Zoë 🎉\"}}}}\n\
         \n\
         {{\"user_id\": \"u-3\", \"devices\": [{{\"platform\": \"ios\", \"token\": \"{IOS}\"}}]}}\n\
         42\n\
         \"u-\\\"5\\\"\""
    )
}

/// Reads every entry from `offset` with a tiny buffer, so that every entry
/// straddles many read boundaries.
async fn entries_from(bytes: &[u8], offset: u64, layout: &Layout, capacity: usize) -> Vec<RawItem> {
    let inner = BufReader::with_capacity(capacity, &bytes[offset as usize..]);
    let line = if offset == layout.users_start { layout.first_line } else { 0 };
    let mut reader = EntryReader::new(inner, offset, layout.encoding, line);
    let mut out = Vec::new();
    while let Some(item) = reader.next_entry().await.unwrap() {
        out.push(item);
    }
    out
}

async fn layout_of(bytes: &[u8], encoding: Encoding) -> Layout {
    discover(BufReader::with_capacity(3, bytes), encoding).await.unwrap()
}

fn ids(items: &[RawItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i.entry {
            Ok(u) => u.user_id.clone(),
            Err(r) => format!("invalid:{}", r.key()),
        })
        .collect()
}

#[tokio::test]
async fn both_encodings_give_the_same_entries() {
    let json = json_file();
    let jsonl = jsonl_file();
    let lj = layout_of(json.as_bytes(), Encoding::Json).await;
    let ll = layout_of(jsonl.as_bytes(), Encoding::Jsonl).await;
    assert_eq!(lj.header, ll.header);
    assert_eq!(lj.header.category.as_deref(), Some("re-engagement"));
    let a = entries_from(json.as_bytes(), lj.users_start, &lj, 7).await;
    let b = entries_from(jsonl.as_bytes(), ll.users_start, &ll, 7).await;
    let expected = ["u-1", "u-2", "u-3", "invalid:not_a_user_entry", "u-\"5\""];
    assert_eq!(ids(&a), expected);
    assert_eq!(ids(&b), expected);
    let zoe = a[1].entry.as_ref().unwrap();
    assert_eq!(zoe.vars["name"], "Zoë 🎉");
    assert_eq!(b.iter().map(|i| i.line.unwrap()).collect::<Vec<_>>(), [2, 3, 5, 6, 7]);
}

#[tokio::test]
async fn resuming_from_any_returned_offset_yields_exactly_the_rest() {
    for (text, encoding) in [(json_file(), Encoding::Json), (jsonl_file(), Encoding::Jsonl)] {
        let bytes = text.as_bytes();
        let layout = layout_of(bytes, encoding).await;
        let all = entries_from(bytes, layout.users_start, &layout, 1).await;
        for (i, item) in all.iter().enumerate() {
            let rest = entries_from(bytes, item.offset, &layout, 5).await;
            assert_eq!(ids(&rest), ids(&all[i..]), "{encoding:?} from entry {i}");
        }
    }
}

#[tokio::test]
async fn position_after_each_entry_is_the_next_entry() {
    let text = json_file();
    let bytes = text.as_bytes();
    let layout = layout_of(bytes, Encoding::Json).await;
    let mut reader = EntryReader::new(
        BufReader::with_capacity(4, &bytes[layout.users_start as usize..]),
        layout.users_start,
        Encoding::Json,
        0,
    );
    let mut positions = vec![reader.position()];
    while reader.next_entry().await.unwrap().is_some() {
        positions.push(reader.position());
    }
    let all = entries_from(bytes, layout.users_start, &layout, 64).await;
    let starts: Vec<u64> = all.iter().map(|i| i.offset).collect();
    assert_eq!(&positions[..starts.len()], &starts[..]);
    // The last position is the closing bracket: resuming there reads nothing.
    assert_eq!(bytes[*positions.last().unwrap() as usize], b']');
}

#[tokio::test]
async fn malformed_json_names_the_byte_and_keeps_what_came_before() {
    let text = r#"{"campaign":"c","notification":{"body":"b"},"users":["u-1","u-2" "u-3"]}"#;
    let layout_err = discover(BufReader::new(text.as_bytes()), Encoding::Json).await;
    // The header pass skips entries leniently; the entry reader is strict.
    let layout = layout_err.unwrap();
    let mut reader =
        EntryReader::new(&text.as_bytes()[layout.users_start as usize..], layout.users_start, Encoding::Json, 0);
    assert!(reader.next_entry().await.unwrap().is_some());
    let err = reader.next_entry().await.unwrap_err();
    let at = text.find(r#" "u-3""#).unwrap() as u64 + 1;
    match err {
        ReadError::Malformed { offset, .. } => assert_eq!(offset, at),
        other => panic!("{other}"),
    }

    let text = "{\"campaign\":\"c\",\"notification\":{\"body\":\"b\"}}\n\"u-1\"\n{\"user_id\": }\n\"u-3\"\n";
    let layout = layout_of(text.as_bytes(), Encoding::Jsonl).await;
    let mut reader =
        EntryReader::new(&text.as_bytes()[layout.users_start as usize..], layout.users_start, Encoding::Jsonl, 2);
    assert!(reader.next_entry().await.unwrap().is_some());
    let err = reader.next_entry().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("line 3"), "{msg}");
    let at = text.find('}').unwrap(); // first `}` closes the header's notification
    assert!(at > 0);
    match err {
        ReadError::Malformed { offset, line, .. } => {
            assert_eq!(line, Some(3));
            assert_eq!(&text[offset as usize..offset as usize + 1], "}");
        }
        other => panic!("{other}"),
    }

    // From the middle of a file (a shard), line numbers are unknown: the
    // byte offset alone says where.
    let mid = text.find("\"u-1\"").unwrap() as u64;
    let mut reader = EntryReader::new(&text.as_bytes()[mid as usize..], mid, Encoding::Jsonl, 0).without_line_numbers();
    assert_eq!(reader.next_entry().await.unwrap().unwrap().line, None);
    match reader.next_entry().await.unwrap_err() {
        e @ ReadError::Malformed { line: None, .. } => assert!(!e.to_string().contains("(line"), "{e}"),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn truncated_files_and_headers_are_errors() {
    let text = r#"{"campaign":"c","notification":{"body":"b"},"users":["u-1","u-"#;
    assert!(matches!(
        discover(BufReader::new(text.as_bytes()), Encoding::Json).await,
        Err(ReadError::Malformed { .. })
    ));
    let text = r#"{"notification":{"body":"b"},"users":[]}"#;
    let err = discover(BufReader::new(text.as_bytes()), Encoding::Json).await.unwrap_err();
    assert!(err.to_string().contains("campaign"), "{err}");
    let text = "{\"campaign\":\"c\",\"notification\":{}}\n\"u\"\n";
    assert!(matches!(discover(BufReader::new(text.as_bytes()), Encoding::Jsonl).await, Err(ReadError::Header(_))));
}

#[tokio::test]
async fn bom_and_no_users() {
    let text = "\u{feff}{\"campaign\":\"c\",\"notification\":{\"title\":\"t\"}}";
    let layout = layout_of(text.as_bytes(), Encoding::Json).await;
    assert!(!layout.has_users);
}

#[tokio::test]
async fn oversized_entries_stop_with_their_offset() {
    let big = "x".repeat(2000);
    let text =
        format!("{{\"campaign\":\"c\",\"notification\":{{\"body\":\"b\"}}}}\n\"u-1\"\n{{\"user_id\":\"{big}\"}}\n");
    let layout = layout_of(text.as_bytes(), Encoding::Jsonl).await;
    let mut reader =
        EntryReader::new(&text.as_bytes()[layout.users_start as usize..], layout.users_start, Encoding::Jsonl, 2)
            .with_max_entry_bytes(1000);
    reader.next_entry().await.unwrap();
    let err = reader.next_entry().await.unwrap_err();
    assert!(matches!(err, ReadError::TooLarge { line: Some(3), .. }), "{err}");
}

#[test]
fn encoding_from_extension() {
    assert_eq!(Encoding::from_key("batches/a.json"), Some(Encoding::Json));
    assert_eq!(Encoding::from_key("batches/a.JSONL"), Some(Encoding::Jsonl));
    assert_eq!(Encoding::from_key("batches/a.ndjson"), Some(Encoding::Jsonl));
    assert_eq!(Encoding::from_key("batches/a.csv"), None);
}
