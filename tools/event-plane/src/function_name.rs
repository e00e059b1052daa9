//! The `{FunctionName}` path segment of the Invoke API, in every form Lambda
//! accepts, reduced to the plain name.

use percent_encoding::percent_decode_str;

use crate::routes::is_function_name;

/// Accepts `NAME`, `NAME:QUALIFIER`, `ACCOUNT:function:NAME[:QUALIFIER]` and
/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, each
/// possibly percent-encoded. The qualifier is dropped: locally there is one
/// version of each function.
pub fn plain_function_name(segment: &str) -> Option<String> {
    let decoded = percent_decode_str(segment).decode_utf8().ok()?;
    let parts: Vec<&str> = decoded.split(':').collect();
    let name = match parts.as_slice() {
        ["arn", _partition, "lambda", _region, _account, "function", name]
        | ["arn", _partition, "lambda", _region, _account, "function", name, _] => *name,
        [_account, "function", name] | [_account, "function", name, _] => *name,
        [name] | [name, _] => *name,
        _ => return None,
    };
    is_function_name(name).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_forms_reduce_to_the_name() {
        for segment in [
            "send-batch",
            "send-batch:live",
            "123456789012:function:send-batch",
            "123456789012:function:send-batch:3",
            "arn:aws:lambda:us-east-1:123456789012:function:send-batch",
            "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Asend-batch",
            "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Asend-batch%3A%24LATEST",
        ] {
            assert_eq!(plain_function_name(segment).as_deref(), Some("send-batch"), "{segment}");
        }
    }

    #[test]
    fn rejects_what_lambda_rejects() {
        for segment in ["", "a/b", "arn:aws:s3:::bucket", "a:b:c:d:e", "send batch", "%FF"] {
            assert_eq!(plain_function_name(segment), None, "{segment}");
        }
    }
}
