//! IAM statements and how one applies to a request: actions and resources
//! with `*`/`?` wildcards, and the condition operators pushbatch's
//! policies use. An operator the checker does not know is an error naming
//! it, never a silent match.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

use super::TemplateError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One condition: `operator: {key: [values]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

/// One statement of a policy, resolved for the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The `Sid`, or `#<n>` when it has none.
    pub sid: String,
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
    /// For a resource policy: the principals it names (`*` for anyone).
    pub principals: Vec<String>,
}

/// What IAM evaluates: an action on a resource (an ARN), with the
/// request's condition keys (`aws:PrincipalArn` among them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)?;
        let keys: Vec<String> =
            self.context.iter().filter(|(k, _)| !k.starts_with("aws:")).map(|(k, v)| format!("{k}={v}")).collect();
        if !keys.is_empty() {
            write!(f, " ({})", keys.join(", "))?;
        }
        Ok(())
    }
}

fn strings(value: Option<&Json>) -> Result<Vec<String>, TemplateError> {
    match value {
        None => Ok(Vec::new()),
        Some(Json::String(s)) => Ok(vec![s.clone()]),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| TemplateError::Unsupported(format!("{i} in a list"))))
            .collect(),
        Some(Json::Bool(b)) => Ok(vec![b.to_string()]),
        Some(other) => Err(TemplateError::Unsupported(format!("{other} where strings are needed"))),
    }
}

impl Statement {
    /// From a resolved statement; `n` names it when it has no `Sid`.
    pub fn parse(value: &Json, n: usize) -> Result<Statement, TemplateError> {
        let sid = value["Sid"].as_str().map_or_else(|| format!("#{n}"), str::to_owned);
        for unsupported in ["NotAction", "NotResource", "NotPrincipal"] {
            if value.get(unsupported).is_some() {
                return Err(TemplateError::Unsupported(format!("{unsupported} in statement {sid}")));
            }
        }
        let effect = match value["Effect"].as_str() {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            other => return Err(TemplateError::Unsupported(format!("Effect {other:?} in statement {sid}"))),
        };
        let mut conditions = Vec::new();
        if let Some(block) = value.get("Condition") {
            let block = block.as_object().ok_or_else(|| TemplateError::Unsupported(format!("Condition of {sid}")))?;
            for (operator, keys) in block {
                let keys =
                    keys.as_object().ok_or_else(|| TemplateError::Unsupported(format!("{operator} of {sid}")))?;
                for (key, values) in keys {
                    conditions.push(Condition {
                        operator: operator.clone(),
                        key: key.clone(),
                        values: strings(Some(values))?,
                    });
                }
            }
        }
        let principals = match value.get("Principal") {
            None => Vec::new(),
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Object(map)) => strings(map.get("AWS"))?,
            Some(other) => return Err(TemplateError::Unsupported(format!("Principal {other} in {sid}"))),
        };
        Ok(Statement {
            sid,
            effect,
            actions: strings(value.get("Action"))?,
            resources: strings(value.get("Resource"))?,
            conditions,
            principals,
        })
    }

    pub fn matches_action(&self, action: &str) -> bool {
        self.actions.iter().any(|pattern| glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase()))
    }

    pub fn matches_resource(&self, resource: &str) -> bool {
        self.resources.iter().any(|pattern| glob(pattern, resource))
    }

    /// Whether the statement names the request's principal (resource
    /// policies; an identity policy names none and always applies).
    pub fn names_principal(&self, request: &Request) -> bool {
        self.principals.is_empty()
            || self.principals.iter().any(|p| p == "*" || Some(p) == request.context.get("aws:PrincipalArn"))
    }

    /// Every condition holds for the request.
    pub fn conditions_hold(&self, request: &Request) -> Result<bool, TemplateError> {
        for c in &self.conditions {
            if !c.holds(request.context.get(&c.key).map(String::as_str)).map_err(|e| match e {
                TemplateError::Unsupported(what) => {
                    TemplateError::Unsupported(format!("{what} in statement {}", self.sid))
                }
                other => other,
            })? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The statement applies to the request: action, resource, principal
    /// and conditions.
    pub fn applies(&self, request: &Request) -> Result<bool, TemplateError> {
        if !(self.matches_action(&request.action)
            && self.matches_resource(&request.resource)
            && self.names_principal(request))
        {
            return Ok(false);
        }
        self.conditions_hold(request)
    }
}

impl Condition {
    /// IAM's rules: values are alternatives; a key the request does not
    /// carry fails a positive operator and passes a negated one (and any
    /// `…IfExists`).
    fn holds(&self, value: Option<&str>) -> Result<bool, TemplateError> {
        let (operator, if_exists) = match self.operator.strip_suffix("IfExists") {
            Some(op) => (op, true),
            None => (self.operator.as_str(), false),
        };
        let (test, negated): (fn(&str, &str) -> bool, bool) = match operator {
            "StringEquals" | "ArnEquals" => (|p, v| p == v, false),
            "StringNotEquals" | "ArnNotEquals" => (|p, v| p == v, true),
            "StringEqualsIgnoreCase" => (|p, v| p.eq_ignore_ascii_case(v), false),
            "StringLike" | "ArnLike" => (glob, false),
            "StringNotLike" | "ArnNotLike" => (glob, true),
            "Bool" => (|p, v| p.eq_ignore_ascii_case(v), false),
            other => return Err(TemplateError::Unsupported(format!("the condition operator {other}"))),
        };
        let Some(value) = value else { return Ok(if_exists || negated) };
        let any = self.values.iter().any(|pattern| test(pattern, value));
        Ok(any != negated)
    }
}

/// `*` (any run, `/` and `:` included) and `?` (one character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("arn:aws:s3:::b/reports/*", "arn:aws:s3:::b/reports/j/summary.json"));
        assert!(!glob("arn:aws:s3:::b/reports/*", "arn:aws:s3:::b/batches/x"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("table/t/index/*", "table/t/index/by_day"));
    }

    #[test]
    fn conditions_follow_iam() {
        let c = |operator: &str, values: &[&str]| Condition {
            operator: operator.into(),
            key: "k".into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        assert!(c("StringLike", &["reports/*"]).holds(Some("reports/j/")).unwrap());
        assert!(!c("StringLike", &["reports/*"]).holds(None).unwrap());
        assert!(c("ArnNotLike", &["arn:a", "arn:b"]).holds(Some("arn:c")).unwrap());
        assert!(!c("ArnNotLike", &["arn:a", "arn:b"]).holds(Some("arn:b")).unwrap());
        assert!(c("ArnNotLike", &["arn:a"]).holds(None).unwrap());
        assert!(c("StringEqualsIfExists", &["x"]).holds(None).unwrap());
        assert!(c("NumericLessThan", &["1"]).holds(Some("0")).is_err());
    }
}
