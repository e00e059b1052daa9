//! What template.yaml says about access, resolved for a deployment: each
//! function's policy statements, role and environment, and the bucket
//! policies that can deny what a role allows.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use super::intrinsics::Resolver;
use super::policy::Statement;
use super::{Deployment, TemplateError};

/// One `AWS::Serverless::Function`.
#[derive(Debug, Clone)]
pub struct FunctionPolicy {
    pub logical_id: String,
    /// The binary, which is the function's name on the local stack.
    pub binary: String,
    /// The name it is deployed as (`<stack>-<binary>`).
    pub deployed_name: String,
    /// SAM's role for it, `<logical id>Role`.
    pub role_arn: String,
    /// Its `Policies`, resolved (conditions applied, `AWS::NoValue` gone).
    pub statements: Vec<Statement>,
    /// Its `Environment.Variables` that resolve to strings.
    pub env: BTreeMap<String, String>,
}

/// A bucket policy (`AWS::S3::BucketPolicy`).
#[derive(Debug, Clone)]
pub struct ResourcePolicy {
    pub logical_id: String,
    pub bucket: String,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub functions: Vec<FunctionPolicy>,
    pub bucket_policies: Vec<ResourcePolicy>,
}

impl Model {
    /// Reads template.yaml's text (CloudFormation tags kept, as
    /// tests/template.rs reads it).
    pub fn load(text: &str, deployment: &Deployment) -> Result<Model, TemplateError> {
        let template: Yaml = serde_norway::from_str(text)?;
        let resolver = Resolver::new(&template, deployment);
        let resources = template["Resources"]
            .as_mapping()
            .ok_or_else(|| TemplateError::Unsupported("a template without Resources".into()))?;
        let mut functions = Vec::new();
        let mut bucket_policies = Vec::new();
        for (logical, resource) in resources {
            let logical = logical.as_str().unwrap_or_default();
            match resource["Type"].as_str() {
                Some("AWS::Serverless::Function") => {
                    functions.push(function(&resolver, logical, resource, deployment)?)
                }
                Some("AWS::S3::BucketPolicy") => {
                    let properties = &resource["Properties"];
                    let bucket = resolver.resolve(&properties["Bucket"])?;
                    let document = resolver.resolve(&properties["PolicyDocument"])?;
                    bucket_policies.push(ResourcePolicy {
                        logical_id: logical.to_owned(),
                        bucket: bucket.as_str().unwrap_or_default().to_owned(),
                        statements: statements(&document, logical)?,
                    });
                }
                Some("AWS::Lambda::Function") => {
                    return Err(TemplateError::Unsupported(format!(
                        "{logical}: a plain AWS::Lambda::Function (its role is another resource)"
                    )));
                }
                _ => {}
            }
        }
        Ok(Model { functions, bucket_policies })
    }

    pub fn function(&self, binary: &str) -> Option<&FunctionPolicy> {
        self.functions.iter().find(|f| f.binary == binary)
    }
}

fn statements(document: &Json, owner: &str) -> Result<Vec<Statement>, TemplateError> {
    let list = match &document["Statement"] {
        Json::Array(items) => items.clone(),
        Json::Object(_) => vec![document["Statement"].clone()],
        other => return Err(TemplateError::Unsupported(format!("{owner}: Statement {other}"))),
    };
    list.iter().enumerate().map(|(n, s)| Statement::parse(s, n)).collect()
}

fn function(
    resolver: &Resolver<'_>,
    logical: &str,
    resource: &Yaml,
    deployment: &Deployment,
) -> Result<FunctionPolicy, TemplateError> {
    let binary = resource["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .ok_or_else(|| TemplateError::Unsupported(format!("{logical} without Metadata.BuildProperties.Binary")))?
        .to_owned();
    let deployed_name = resolver.name_of(logical)?;
    // Local names are the binaries; the check maps them to the deployed
    // names by this convention, so it must hold.
    if deployed_name != format!("{}-{binary}", deployment.stack) {
        return Err(TemplateError::Unsupported(format!(
            "{logical}'s FunctionName {deployed_name}: the check expects ${{AWS::StackName}}-{binary}"
        )));
    }
    let properties = &resource["Properties"];
    if !properties["Role"].is_null() {
        return Err(TemplateError::Unsupported(format!("{logical}: a Role of its own instead of Policies")));
    }
    let mut all = Vec::new();
    if let Json::Array(policies) = resolver.resolve(&properties["Policies"])? {
        for policy in policies {
            match policy {
                Json::Object(ref map) if map.contains_key("Statement") => {
                    let mut found = statements(&policy, logical)?;
                    // Sids are per document; number the unnamed across them.
                    for s in found.iter_mut().filter(|s| s.sid.starts_with('#')) {
                        s.sid = format!("#{}", all.len() + s.sid[1..].parse::<usize>().unwrap_or(0));
                    }
                    all.extend(found);
                }
                other => {
                    return Err(TemplateError::Unsupported(format!(
                        "{logical}'s policy {other} (a managed policy or a SAM policy template)"
                    )));
                }
            }
        }
    }
    let mut env = BTreeMap::new();
    if let Json::Object(vars) = resolver.resolve(&properties["Environment"]["Variables"])? {
        for (key, value) in vars {
            if let Json::String(value) = value {
                env.insert(key, value);
            }
        }
    }
    let role = format!("{logical}Role");
    Ok(FunctionPolicy {
        logical_id: logical.to_owned(),
        binary,
        deployed_name,
        role_arn: resolver.attribute(&role, "Arn")?,
        statements: all,
        env,
    })
}
