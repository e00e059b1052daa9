//! The local stack's EMF: the functions write their documents to stdout,
//! which `cargo lambda watch` passes into its log along with everything
//! else. This copies the documents, in order, into their own file,
//! remembering how far into the log it read, so each line is copied once.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{path}")]
pub struct CollectError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> CollectError + '_ {
    move |source| CollectError { path: path.to_path_buf(), source }
}

/// Where a stack's collected documents live.
#[derive(Debug, Clone)]
pub struct Collector {
    /// `cargo lambda watch`'s log.
    log: PathBuf,
    /// One EMF document per line.
    out: PathBuf,
    /// How many bytes of the log have been read.
    offset: PathBuf,
}

impl Collector {
    /// Collects `log` into `dir/emf.jsonl`.
    pub fn new(log: impl Into<PathBuf>, dir: &Path) -> Self {
        Self { log: log.into(), out: dir.join("emf.jsonl"), offset: dir.join("watch-log.offset") }
    }

    pub fn documents(&self) -> &Path {
        &self.out
    }

    /// Starts a fresh collection at the log's current end: what the
    /// functions write from now on (`local up` calls this when it starts
    /// `cargo lambda watch`).
    pub fn begin(&self) -> Result<(), CollectError> {
        if let Some(dir) = self.out.parent() {
            std::fs::create_dir_all(dir).map_err(at(dir))?;
        }
        let end = match std::fs::metadata(&self.log) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(at(&self.log)(e)),
        };
        File::create(&self.out).map_err(at(&self.out))?;
        std::fs::write(&self.offset, end.to_string()).map_err(at(&self.offset))
    }

    /// Copies the documents written since the last call; returns how many.
    /// Only whole lines are taken: a line still being written is read next
    /// time.
    pub fn collect(&self) -> Result<usize, CollectError> {
        let mut offset = match std::fs::read_to_string(&self.offset) {
            Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(at(&self.offset)(e)),
        };
        let mut log = match File::open(&self.log) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(at(&self.log)(e)),
        };
        let len = log.metadata().map_err(at(&self.log))?.len();
        if len < offset {
            // The log was replaced: read the new one from its start.
            offset = 0;
        }
        log.seek(SeekFrom::Start(offset)).map_err(at(&self.log))?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes).map_err(at(&self.log))?;
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut documents = String::new();
        let mut n = 0;
        for line in String::from_utf8_lossy(&bytes[..whole]).lines() {
            if let Some(doc) = emf_document(line) {
                documents.push_str(doc);
                documents.push('\n');
                n += 1;
            }
        }
        if let Some(dir) = self.out.parent() {
            std::fs::create_dir_all(dir).map_err(at(dir))?;
        }
        let mut out = OpenOptions::new().create(true).append(true).open(&self.out).map_err(at(&self.out))?;
        out.write_all(documents.as_bytes()).map_err(at(&self.out))?;
        std::fs::write(&self.offset, (offset + whole as u64).to_string()).map_err(at(&self.offset))?;
        Ok(n)
    }
}

/// The EMF document in a log line, if it holds one: a JSON object with an
/// `_aws.CloudWatchMetrics` member (a prefix before the object, as a log
/// forwarder may add, is skipped).
pub fn emf_document(line: &str) -> Option<&str> {
    let start = line.find('{')?;
    let candidate = line[start..].trim_end();
    if !candidate.contains("\"_aws\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(candidate).ok()?;
    value["_aws"]["CloudWatchMetrics"].is_array().then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMF: &str = r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"pushbatch","Dimensions":[["function"]],"Metrics":[{"Name":"Approvals","Unit":"Count"}]}],"Timestamp":1796040000000},"function":"approval","Approvals":1}"#;
    const LOG: &str = r#"{"timestamp":"2026-11-30T12:00:00Z","level":"INFO","message":"request approved"}"#;

    #[test]
    fn copies_each_document_once_and_waits_for_whole_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("watch.log");
        std::fs::write(&log, format!("old run\n{EMF}\n")).expect("log");
        let c = Collector::new(&log, &dir.path().join("metrics"));
        c.begin().expect("begin");
        assert_eq!(c.collect().expect("collect"), 0, "what was there before `up` is not collected");

        let mut f = OpenOptions::new().append(true).open(&log).expect("open");
        write!(f, "{LOG}\n  INFO cargo-lambda: building\n{EMF}\n{}", &EMF[..40]).expect("write");
        assert_eq!(c.collect().expect("collect"), 1);
        writeln!(f, "{}", &EMF[40..]).expect("write");
        assert_eq!(c.collect().expect("collect"), 1, "the half line, once whole");
        assert_eq!(c.collect().expect("collect"), 0);
        let text = std::fs::read_to_string(c.documents()).expect("documents");
        assert_eq!(text, format!("{EMF}\n{EMF}\n"));
    }

    #[test]
    fn finds_documents_among_other_lines() {
        assert_eq!(emf_document(EMF), Some(EMF));
        let prefixed = format!("[approval] {EMF}");
        assert_eq!(emf_document(&prefixed), Some(EMF));
        assert_eq!(emf_document(LOG), None);
        assert_eq!(emf_document(r#"{"_aws": "not a directive"}"#), None);
        assert_eq!(emf_document(r#"{"_aws":{"CloudWatchMetrics":[]"#), None, "cut short");
    }
}
