//! A recorded call's accesses as the requests IAM evaluates in AWS: local
//! names become the deployment's (the value a function took from its
//! environment becomes the template's value of that variable; a local
//! function `f` is `<stack>-f`), resources become ARNs, and the caller's
//! role and TLS are added as global condition keys.

use std::collections::BTreeMap;

use shared::aws::record::{Access, Resource};

use super::Deployment;
use super::model::FunctionPolicy;
use super::policy::Request;

/// Local value → the template's value, for one function.
pub struct Names<'a> {
    deployment: &'a Deployment,
    function: &'a FunctionPolicy,
    renamed: BTreeMap<&'a str, &'a str>,
}

impl<'a> Names<'a> {
    pub fn new(deployment: &'a Deployment, function: &'a FunctionPolicy) -> Self {
        let renamed = function
            .env
            .iter()
            .filter_map(|(key, template)| {
                let local = deployment.local_env.get(key)?;
                (!local.is_empty() && local != template).then_some((local.as_str(), template.as_str()))
            })
            .collect();
        Names { deployment, function, renamed }
    }

    fn name<'s>(&'s self, local: &'s str) -> &'s str {
        self.renamed.get(local).copied().unwrap_or(local)
    }

    /// The request for one access, or why there is none.
    pub fn request(&self, access: &Access) -> Result<Request, String> {
        let d = self.deployment;
        let (p, r, a) = (&d.partition, &d.region, &d.account);
        let resource = match &access.resource {
            Resource::Table { table, index: None } => format!("arn:{p}:dynamodb:{r}:{a}:table/{}", self.name(table)),
            Resource::Table { table, index: Some(index) } => {
                format!("arn:{p}:dynamodb:{r}:{a}:table/{}/index/{index}", self.name(table))
            }
            Resource::Bucket { bucket } => format!("arn:{p}:s3:::{}", self.name(bucket)),
            Resource::Object { bucket, key } => format!("arn:{p}:s3:::{}/{key}", self.name(bucket)),
            Resource::Function { name } => {
                let deployed = match self.renamed.get(name.as_str()) {
                    Some(deployed) => deployed.to_string(),
                    None => format!("{}-{name}", d.stack),
                };
                format!("arn:{p}:lambda:{r}:{a}:function:{deployed}")
            }
            Resource::Schedule { group, name } => {
                format!("arn:{p}:scheduler:{r}:{a}:schedule/{}/{name}", self.name(group))
            }
            Resource::Role { arn } => self.name(arn).to_owned(),
            Resource::Identity { identity } => format!("arn:{p}:ses:{r}:{a}:identity/{}", self.name(identity)),
            Resource::Secret { id } if id.starts_with("arn:") => self.name(id).to_owned(),
            Resource::Secret { id } => format!("arn:{p}:secretsmanager:{r}:{a}:secret:{}", self.name(id)),
            Resource::Unknown { operation } => {
                return Err(format!(
                    "{operation} is an operation shared::aws::access does not describe: teach it the \
                     operation's IAM action and resource"
                ));
            }
        };
        let mut context: BTreeMap<String, String> =
            access.context.iter().map(|(k, v)| (k.clone(), self.name(v).to_owned())).collect();
        context.insert("aws:PrincipalArn".to_owned(), self.function.role_arn.clone());
        // In AWS the SDK calls every service over TLS.
        context.insert("aws:SecureTransport".to_owned(), "true".to_owned());
        Ok(Request { action: access.action.clone(), resource, context })
    }
}
