//! Finds where one JSON value ends in a byte stream, without parsing it.
//!
//! Written by hand because no maintained crate streams the elements of a JSON
//! array *with their byte offsets* from an async reader: serde_json's
//! `StreamDeserializer` handles concatenated values (JSONL) but not the inside
//! of an array, and the streaming parsers (struson and friends) do not expose
//! offsets. Knowing where each entry starts is what makes resuming a job from a
//! checkpoint possible, so the scanner only finds boundaries; serde_json still
//! does the actual parsing of each value.

/// Incremental state for one JSON value.
#[derive(Debug, Default, Clone)]
pub struct ValueScanner {
    depth: u32,
    in_string: bool,
    escaped: bool,
    started: bool,
    scalar: bool,
}

/// Nesting deeper than this is refused before serde_json's own limit (128)
/// would produce a less helpful error.
pub const MAX_DEPTH: u32 = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The value ends after this many bytes of the slice.
    Done(usize),
    /// Every byte was consumed; the value goes on.
    More,
    /// A byte that cannot appear here, at this index of the slice.
    Invalid(usize, &'static str),
}

impl ValueScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the value (the first call starts at its first byte).
    pub fn feed(&mut self, bytes: &[u8]) -> Step {
        for (i, &b) in bytes.iter().enumerate() {
            if !self.started {
                self.started = true;
                match b {
                    b'{' | b'[' => self.depth = 1,
                    b'"' => self.in_string = true,
                    b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => self.scalar = true,
                    _ => return Step::Invalid(i, "expected a JSON value"),
                }
                continue;
            }
            if self.scalar {
                if is_delimiter(b) {
                    return Step::Done(i);
                }
                if !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')) {
                    return Step::Invalid(i, "unexpected character in a literal");
                }
                continue;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Step::Done(i + 1);
                    }
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Step::Invalid(i, "nesting deeper than 128 levels");
                    }
                }
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Step::Done(i + 1);
                    }
                }
                _ => {}
            }
        }
        Step::More
    }

    /// At the end of input: a bare literal (`123`, `true`) may end there.
    pub fn finish(&self) -> bool {
        self.scalar
    }
}

pub fn is_delimiter(b: u8) -> bool {
    matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
}

pub fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(input: &str) -> Step {
        ValueScanner::new().feed(input.as_bytes())
    }

    #[test]
    fn finds_the_end_of_each_kind() {
        assert_eq!(whole(r#""a\"b]" , 1"#), Step::Done(7));
        assert_eq!(whole(r#"{"a": [1, "}"]} ,"#), Step::Done(15));
        assert_eq!(whole("123,"), Step::Done(3));
        assert_eq!(whole("true]"), Step::Done(4));
        assert_eq!(whole("[[]]x"), Step::Done(4));
    }

    #[test]
    fn works_across_chunks() {
        let input = br#"{"user_id": "u-\u00e9\"x", "vars": {"a": [1,2]}} rest"#;
        for split in 0..input.len() {
            let mut s = ValueScanner::new();
            let (a, b) = input.split_at(split);
            let end = match s.feed(a) {
                Step::Done(n) => n,
                Step::More => match s.feed(b) {
                    Step::Done(n) => a.len() + n,
                    other => panic!("split {split}: {other:?}"),
                },
                other => panic!("split {split}: {other:?}"),
            };
            assert_eq!(&input[end..], b" rest", "split at {split}");
        }
    }

    #[test]
    fn refuses_garbage_and_depth() {
        assert!(matches!(whole("}"), Step::Invalid(0, _)));
        assert!(matches!(whole("12a!"), Step::Invalid(3, _)));
        let deep = "[".repeat(200);
        assert!(matches!(whole(&deep), Step::Invalid(128, _)));
    }
}
