//! CloudFormation's intrinsic functions over template.yaml, resolved for
//! one deployment: `!Ref`, `!GetAtt`, `!Sub`, `!Join`, `!Split`, `!If` and
//! the conditions (`!Not`, `!Equals`, `!And`, `!Or`, `Condition`), in their
//! short (tag) and long (`Fn::`) forms. Anything else is an error naming
//! it: the check never guesses what a policy says.

use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use shared::schema::ALL_TABLES;

use super::{Deployment, TemplateError};

/// The intrinsic a value is, if any: (function name without `Fn::`, argument).
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Some((tag.trim_start_matches('!').to_owned(), &tagged.value))
        }
        Yaml::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            if key == "Ref" {
                Some(("Ref".to_owned(), arg))
            } else {
                key.strip_prefix("Fn::").map(|name| (name.to_owned(), arg))
            }
        }
        _ => None,
    }
}

fn bad(what: impl Into<String>) -> TemplateError {
    TemplateError::Unsupported(what.into())
}

/// Resolves template values for `deployment`.
pub struct Resolver<'a> {
    template: &'a Yaml,
    deployment: &'a Deployment,
}

impl<'a> Resolver<'a> {
    pub fn new(template: &'a Yaml, deployment: &'a Deployment) -> Self {
        Resolver { template, deployment }
    }

    /// `value` with every intrinsic resolved; `Json::Null` is `AWS::NoValue`
    /// (dropped from lists and maps).
    pub fn resolve(&self, value: &Yaml) -> Result<Json, TemplateError> {
        if let Some((name, arg)) = intrinsic(value) {
            return self.call(&name, arg);
        }
        Ok(match value {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => Json::String(n.to_string()),
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(items) => {
                let mut out = Vec::new();
                for item in items {
                    match self.resolve(item)? {
                        Json::Null => {}
                        v => out.push(v),
                    }
                }
                Json::Array(out)
            }
            Yaml::Mapping(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let key = k.as_str().ok_or_else(|| bad(format!("a non-string key {k:?}")))?;
                    match self.resolve(v)? {
                        Json::Null => {}
                        v => {
                            out.insert(key.to_owned(), v);
                        }
                    }
                }
                Json::Object(out)
            }
            Yaml::Tagged(t) => return Err(bad(format!("the tag {}", t.tag))),
        })
    }

    fn string(&self, value: &Yaml) -> Result<String, TemplateError> {
        match self.resolve(value)? {
            Json::String(s) => Ok(s),
            other => Err(bad(format!("{other} where a string is needed"))),
        }
    }

    fn call(&self, name: &str, arg: &Yaml) -> Result<Json, TemplateError> {
        let args = |n: usize| match arg {
            Yaml::Sequence(items) if items.len() == n => Ok(items),
            _ => Err(bad(format!("Fn::{name} with arguments {arg:?}"))),
        };
        match name {
            "Ref" => self.reference(arg.as_str().ok_or_else(|| bad(format!("Ref {arg:?}")))?),
            "GetAtt" => {
                let (logical, attribute) = match arg {
                    Yaml::String(s) => s.split_once('.').ok_or_else(|| bad(format!("GetAtt {s}")))?,
                    Yaml::Sequence(items) if items.len() == 2 => (
                        items[0].as_str().ok_or_else(|| bad("GetAtt's resource"))?,
                        items[1].as_str().ok_or_else(|| bad("GetAtt's attribute"))?,
                    ),
                    _ => return Err(bad(format!("GetAtt {arg:?}"))),
                };
                self.attribute(logical, attribute).map(Json::String)
            }
            "Sub" => match arg {
                Yaml::String(text) => self.sub(text, None).map(Json::String),
                Yaml::Sequence(items) if items.len() == 2 => {
                    let text = items[0].as_str().ok_or_else(|| bad("Sub's text"))?;
                    self.sub(text, Some(&items[1])).map(Json::String)
                }
                _ => Err(bad(format!("Sub {arg:?}"))),
            },
            "Join" => {
                let items = args(2)?;
                let separator = self.string(&items[0])?;
                let parts = match self.resolve(&items[1])? {
                    Json::Array(parts) => parts,
                    other => return Err(bad(format!("Join over {other}"))),
                };
                let parts: Result<Vec<String>, _> = parts
                    .into_iter()
                    .map(|p| match p {
                        Json::String(s) => Ok(s),
                        other => Err(bad(format!("Join of {other}"))),
                    })
                    .collect();
                Ok(Json::String(parts?.join(&separator)))
            }
            "Split" => {
                let items = args(2)?;
                let (separator, text) = (self.string(&items[0])?, self.string(&items[1])?);
                Ok(Json::Array(text.split(separator.as_str()).map(|s| Json::String(s.to_owned())).collect()))
            }
            "If" => {
                let items = args(3)?;
                let condition = items[0].as_str().ok_or_else(|| bad("If's condition"))?;
                self.resolve(if self.condition(condition)? { &items[1] } else { &items[2] })
            }
            other => Err(bad(format!("Fn::{other}"))),
        }
    }

    /// A named condition of the Conditions section.
    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        let definition = &self.template["Conditions"][name];
        if definition.is_null() {
            return Err(bad(format!("the condition {name}, which the template does not define")));
        }
        self.truth(definition)
    }

    fn truth(&self, value: &Yaml) -> Result<bool, TemplateError> {
        if let Some(name) = value.get("Condition").and_then(Yaml::as_str) {
            return self.condition(name);
        }
        let (name, arg) = intrinsic(value).ok_or_else(|| bad(format!("the condition {value:?}")))?;
        let items = arg.as_sequence().ok_or_else(|| bad(format!("Fn::{name} without a list")))?;
        match name.as_str() {
            "Not" if items.len() == 1 => Ok(!self.truth(&items[0])?),
            "And" => items.iter().try_fold(true, |all, c| Ok(all && self.truth(c)?)),
            "Or" => items.iter().try_fold(false, |any, c| Ok(any || self.truth(c)?)),
            "Equals" if items.len() == 2 => Ok(self.resolve(&items[0])? == self.resolve(&items[1])?),
            "Condition" => Err(bad("Fn::Condition")),
            other => Err(bad(format!("the condition function {other}"))),
        }
    }

    /// `${Name}` and `${Resource.Attribute}` in `text`; `${!Literal}` stays.
    fn sub(&self, text: &str, variables: Option<&Yaml>) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| bad(format!("an unclosed ${{ in {text}")))? + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(value) = variables.and_then(|v| v.get(name)) {
                out.push_str(&self.string(value)?);
            } else if let Some((logical, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(logical, attribute)?);
            } else {
                match self.reference(name)? {
                    Json::String(s) => out.push_str(&s),
                    other => return Err(bad(format!("${{{name}}} is {other}, not a string"))),
                }
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `!Ref name`: a pseudo parameter, a parameter, or a resource.
    pub fn reference(&self, name: &str) -> Result<Json, TemplateError> {
        let d = self.deployment;
        let pseudo = match name {
            "AWS::Partition" => Some(d.partition.clone()),
            "AWS::Region" => Some(d.region.clone()),
            "AWS::AccountId" => Some(d.account.clone()),
            "AWS::StackName" => Some(d.stack.clone()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_owned()),
            "AWS::NoValue" => return Ok(Json::Null),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Ok(Json::String(value));
        }
        let parameter = &self.template["Parameters"][name];
        if !parameter.is_null() {
            let value = match d.parameters.get(name) {
                Some(value) => value.clone(),
                None => match &parameter["Default"] {
                    Yaml::Null => return Err(TemplateError::NoParameterValue(name.to_owned())),
                    default => self.string(default)?,
                },
            };
            return Ok(if parameter["Type"].as_str() == Some("CommaDelimitedList") {
                Json::Array(value.split(',').map(|s| Json::String(s.trim().to_owned())).collect())
            } else {
                Json::String(value)
            });
        }
        let (kind, _) = self.resource(name)?;
        Ok(Json::String(match kind.as_str() {
            "AWS::SQS::Queue" => {
                format!("https://sqs.{}.amazonaws.com/{}/{}", d.region, d.account, self.name_of(name)?)
            }
            _ => self.name_of(name)?,
        }))
    }

    /// (type, properties) of a resource; SAM's implicit `<Function>Role`
    /// is an `AWS::IAM::Role`.
    fn resource(&self, logical: &str) -> Result<(String, &'a Yaml), TemplateError> {
        let resource = &self.template["Resources"][logical];
        if let Some(kind) = resource["Type"].as_str() {
            return Ok((kind.to_owned(), &resource["Properties"]));
        }
        let implicit_role = logical
            .strip_suffix("Role")
            .is_some_and(|f| self.template["Resources"][f]["Type"].as_str() == Some("AWS::Serverless::Function"));
        if implicit_role {
            return Ok(("AWS::IAM::Role".to_owned(), &resource["Properties"]));
        }
        Err(TemplateError::UnknownResource(logical.to_owned()))
    }

    /// The physical name a resource has in the deployment.
    pub fn name_of(&self, logical: &str) -> Result<String, TemplateError> {
        let (kind, properties) = self.resource(logical)?;
        let named = |property: &str| match &properties[property] {
            Yaml::Null => Ok(format!("{}-{logical}", self.deployment.stack)),
            value => self.string(value),
        };
        match kind.as_str() {
            "AWS::DynamoDB::Table" => ALL_TABLES
                .iter()
                .find(|t| t.logical_id == logical)
                .map(|t| t.default_name.to_owned())
                .ok_or_else(|| bad(format!("the table {logical}, which shared::schema does not define"))),
            "AWS::Serverless::Function" => named("FunctionName"),
            "AWS::Scheduler::ScheduleGroup" => named("Name"),
            "AWS::S3::Bucket" => named("BucketName"),
            "AWS::IAM::Role" => named("RoleName"),
            _ => Ok(logical.to_owned()),
        }
    }

    /// `!GetAtt logical.attribute`.
    pub fn attribute(&self, logical: &str, attribute: &str) -> Result<String, TemplateError> {
        let (kind, _) = self.resource(logical)?;
        let name = self.name_of(logical)?;
        let d = self.deployment;
        let (p, r, a) = (&d.partition, &d.region, &d.account);
        Ok(match (kind.as_str(), attribute) {
            ("AWS::DynamoDB::Table", "Arn") => format!("arn:{p}:dynamodb:{r}:{a}:table/{name}"),
            ("AWS::Serverless::Function", "Arn") => format!("arn:{p}:lambda:{r}:{a}:function:{name}"),
            ("AWS::SQS::Queue", "Arn") => format!("arn:{p}:sqs:{r}:{a}:{name}"),
            ("AWS::SQS::Queue", "QueueName") => name,
            ("AWS::IAM::Role", "Arn") => format!("arn:{p}:iam::{a}:role/{name}"),
            ("AWS::Scheduler::ScheduleGroup", "Arn") => format!("arn:{p}:scheduler:{r}:{a}:schedule-group/{name}"),
            ("AWS::S3::Bucket", "Arn") => format!("arn:{p}:s3:::{name}"),
            _ => return Err(bad(format!("GetAtt {logical}.{attribute} ({kind})"))),
        })
    }
}
