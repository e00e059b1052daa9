//! Whoever may write `batches/` may push to anyone: template.yaml's bucket
//! policy denies it to every principal but the approval flow, ab-split and
//! the roles in `SenderRoleArns`. This test resolves the template's own
//! statement (its intrinsic functions, with the parameters given) and
//! evaluates it as IAM would for a request, so the deny is proven on the text
//! that is deployed, not on a copy.

use std::collections::BTreeMap;
use std::path::Path;

use serde_norway::Value;

const ACCOUNT: &str = "123456789012";

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What an intrinsic resolves to: a string or a list of them.
#[derive(Debug, Clone, PartialEq)]
enum Resolved {
    Text(String),
    List(Vec<String>),
}

impl Resolved {
    fn text(self) -> String {
        match self {
            Resolved::Text(t) => t,
            Resolved::List(l) => panic!("a list where a string was expected: {l:?}"),
        }
    }

    fn list(self) -> Vec<String> {
        match self {
            Resolved::Text(t) => vec![t],
            Resolved::List(l) => l,
        }
    }
}

/// Resolves the intrinsics the policy uses (`!Sub`, `!GetAtt`, `!Ref`,
/// `!Join`, `!Split`); a role's ARN is named after its logical id, as a
/// stand-in for the one CloudFormation will generate.
struct Resolver<'a> {
    parameters: &'a BTreeMap<&'a str, Resolved>,
}

impl Resolver<'_> {
    fn resolve(&self, v: &Value) -> Resolved {
        match v {
            Value::String(s) => Resolved::Text(s.clone()),
            Value::Sequence(items) => Resolved::List(items.iter().map(|i| self.resolve(i).text()).collect()),
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let inner = &tagged.value;
                match tag.as_str() {
                    "!Ref" => self.reference(inner.as_str().unwrap()),
                    "!GetAtt" => Resolved::Text(self.get_att(inner.as_str().unwrap())),
                    "!Sub" => Resolved::Text(self.sub(inner.as_str().unwrap())),
                    "!Join" => {
                        let args = inner.as_sequence().unwrap();
                        let sep = args[0].as_str().unwrap();
                        let parts: Vec<String> = match &args[1] {
                            Value::Sequence(items) => items.iter().flat_map(|i| self.resolve(i).list()).collect(),
                            other => self.resolve(other).list(),
                        };
                        Resolved::Text(parts.join(sep))
                    }
                    "!Split" => {
                        let args = inner.as_sequence().unwrap();
                        let sep = args[0].as_str().unwrap();
                        Resolved::List(self.resolve(&args[1]).text().split(sep).map(str::to_owned).collect())
                    }
                    other => panic!("unhandled intrinsic {other}"),
                }
            }
            other => panic!("unhandled value {other:?}"),
        }
    }

    fn reference(&self, name: &str) -> Resolved {
        match name {
            "AWS::Partition" => Resolved::Text("aws".into()),
            "AWS::AccountId" => Resolved::Text(ACCOUNT.into()),
            _ => self.parameters.get(name).cloned().unwrap_or_else(|| panic!("no parameter {name}")),
        }
    }

    fn get_att(&self, what: &str) -> String {
        let (resource, attr) = what.split_once('.').unwrap();
        assert_eq!(attr, "Arn");
        format!("arn:aws:iam::{ACCOUNT}:role/{resource}")
    }

    fn sub(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            out.push_str(&self.reference(&rest[start + 2..end]).text());
            rest = &rest[end + 1..];
        }
        out + rest
    }
}

/// IAM's wildcard match (`*` any run, `?` one character).
fn like(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

/// Whether the template's `OnlyApprovedWritersSend` statement denies this
/// request, with `SenderRoleArns` set to `senders`.
fn denied(senders: &str, principal: &str, action: &str, object: &str) -> bool {
    let t = template();
    let statements =
        t["Resources"]["BucketTlsOnlyPolicy"]["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap();
    let s = statements.iter().find(|s| s["Sid"].as_str() == Some("OnlyApprovedWritersSend")).expect("the statement");
    assert_eq!(s["Effect"].as_str(), Some("Deny"));
    assert_eq!(s["Principal"].as_str(), Some("*"), "every principal, administrators included");
    let parameters = BTreeMap::from([
        ("BucketName", Resolved::Text("pushbatch-bucket".into())),
        ("SenderRoleArns", Resolved::List(senders.split(',').map(str::to_owned).collect())),
    ]);
    let r = Resolver { parameters: &parameters };
    let actions = r.resolve(&s["Action"]).list();
    let resources = r.resolve(&s["Resource"]).list();
    let condition = s["Condition"]["ArnNotLike"]["aws:PrincipalArn"].clone();
    let allowed = r.resolve(&condition).list();
    let applies = actions.iter().any(|a| like(a, action))
        && resources.iter().any(|res| like(res, &format!("arn:aws:s3:::pushbatch-bucket/{object}")));
    applies && !allowed.iter().any(|p| like(p, principal))
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

#[test]
fn only_approval_ab_split_and_named_senders_may_write_batches() {
    let put = "s3:PutObject";
    for who in [
        role("Admin"),
        role("SendBatchFunctionRole"),
        role("ScheduledFunctionRole"),
        format!("arn:aws:iam::{ACCOUNT}:root"),
    ] {
        assert!(denied("", &who, put, "batches/anyone.jsonl"), "{who} must not write batches/");
    }
    assert!(!denied("", &role("ApprovalFunctionRole"), put, "batches/approval/r1.jsonl"));
    assert!(!denied("", &role("AbSplitFunctionRole"), put, "batches/campaigns/c/2026-11-30/A.jsonl"));
    // A pipeline is named in SenderRoleArns: it may; until then it may not.
    let pipeline = role("release-pipeline");
    assert!(denied("", &pipeline, put, "batches/promo.jsonl"));
    assert!(!denied(&format!("{pipeline},{}", role("break-glass")), &pipeline, put, "batches/promo.jsonl"));
    // Nothing else is narrowed: reports and segments, reads.
    assert!(!denied("", &role("Admin"), put, "reports/j/summary.json"));
    assert!(!denied("", &role("Admin"), "s3:GetObject", "batches/promo.jsonl"));
}

#[test]
fn the_matcher_is_iams() {
    assert!(like("arn:aws:s3:::b/batches/*", "arn:aws:s3:::b/batches/a/b.json"));
    assert!(!like("arn:aws:s3:::b/batches/*", "arn:aws:s3:::b/reports/x"));
    assert!(like("s3:Put?bject", "s3:PutObject"));
    assert!(!like("", "arn:aws:iam::1:role/x"), "an empty SenderRoleArns entry matches nobody");
}
