//! Reading EMF documents back into datapoints, checking each against the
//! specification's rules as CloudWatch would: a document CloudWatch would
//! reject is an error here too, not a silently missing metric.

use std::collections::BTreeMap;

use serde_json::Value;

const MAX_METRICS: usize = 100;
const MAX_DIMENSIONS: usize = 30;
const MAX_VALUES: usize = 100;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmfError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not an EMF document: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> EmfError {
    EmfError::Invalid(message.into())
}

/// One metric's values from one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub at_ms: u64,
    pub namespace: String,
    pub name: String,
    pub unit: String,
    pub dimensions: BTreeMap<String, String>,
    /// `(value, how many times)`: a scalar is one sample, an array one per
    /// element, `{"Values", "Counts"}` its pairs.
    pub samples: Vec<(f64, u64)>,
}

impl Datapoint {
    pub fn sum(&self) -> f64 {
        self.samples.iter().map(|(v, n)| v * *n as f64).sum()
    }

    pub fn count(&self) -> u64 {
        self.samples.iter().map(|(_, n)| n).sum()
    }

    pub fn dimension(&self, name: &str) -> &str {
        self.dimensions.get(name).map_or("", String::as_str)
    }
}

/// Every datapoint of one document, one per metric and dimension set.
pub fn parse(line: &str) -> Result<Vec<Datapoint>, EmfError> {
    let doc: Value = serde_json::from_str(line).map_err(|e| EmfError::NotJson(e.to_string()))?;
    let aws = doc.get("_aws").filter(|v| v.is_object()).ok_or_else(|| invalid("no _aws object"))?;
    let at_ms = aws["Timestamp"].as_u64().ok_or_else(|| invalid("_aws.Timestamp is not milliseconds"))?;
    let directives = aws["CloudWatchMetrics"].as_array().ok_or_else(|| invalid("no CloudWatchMetrics array"))?;
    let mut points = Vec::new();
    for d in directives {
        let namespace = d["Namespace"].as_str().ok_or_else(|| invalid("a directive without Namespace"))?;
        let sets = d["Dimensions"].as_array().ok_or_else(|| invalid("a directive without Dimensions"))?;
        let metrics = d["Metrics"].as_array().ok_or_else(|| invalid("a directive without Metrics"))?;
        if metrics.len() > MAX_METRICS {
            return Err(invalid(format!("{} metrics in one directive (at most {MAX_METRICS})", metrics.len())));
        }
        for set in sets {
            let dimensions = dimension_set(&doc, set)?;
            for m in metrics {
                let name = m["Name"].as_str().ok_or_else(|| invalid("a metric without Name"))?;
                let unit = m.get("Unit").and_then(Value::as_str).unwrap_or("None");
                let samples = samples(name, doc.get(name))?;
                points.push(Datapoint {
                    at_ms,
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    unit: unit.to_owned(),
                    dimensions: dimensions.clone(),
                    samples,
                });
            }
        }
    }
    Ok(points)
}

fn dimension_set(doc: &Value, set: &Value) -> Result<BTreeMap<String, String>, EmfError> {
    let names = set.as_array().ok_or_else(|| invalid("a dimension set is not an array"))?;
    if names.len() > MAX_DIMENSIONS {
        return Err(invalid(format!("{} dimensions in one set (at most {MAX_DIMENSIONS})", names.len())));
    }
    let mut out = BTreeMap::new();
    for name in names {
        let name = name.as_str().ok_or_else(|| invalid("a dimension name is not a string"))?;
        let value = doc[name].as_str().ok_or_else(|| invalid(format!("dimension {name} has no string value")))?;
        out.insert(name.to_owned(), value.to_owned());
    }
    Ok(out)
}

fn number(name: &str, v: &Value) -> Result<f64, EmfError> {
    v.as_f64().ok_or_else(|| invalid(format!("{name}: {v} is not a number")))
}

fn samples(name: &str, value: Option<&Value>) -> Result<Vec<(f64, u64)>, EmfError> {
    let value = value.ok_or_else(|| invalid(format!("metric {name} has no value member")))?;
    let too_many = |n: usize| invalid(format!("{name}: {n} values (at most {MAX_VALUES})"));
    match value {
        Value::Number(_) => Ok(vec![(number(name, value)?, 1)]),
        Value::Array(values) if values.len() > MAX_VALUES => Err(too_many(values.len())),
        Value::Array(values) => values.iter().map(|v| Ok((number(name, v)?, 1))).collect(),
        Value::Object(o) => {
            let values =
                o.get("Values").and_then(Value::as_array).ok_or_else(|| invalid(format!("{name}: no Values")))?;
            let counts =
                o.get("Counts").and_then(Value::as_array).ok_or_else(|| invalid(format!("{name}: no Counts")))?;
            if values.len() != counts.len() {
                return Err(invalid(format!("{name}: {} values but {} counts", values.len(), counts.len())));
            }
            if values.len() > MAX_VALUES {
                return Err(too_many(values.len()));
            }
            values.iter().zip(counts).map(|(v, c)| Ok((number(name, v)?, number(name, c)? as u64))).collect()
        }
        other => Err(invalid(format!("{name}: {other} is not a metric value"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents shaped as `shared::metrics` writes them (the captured
    /// local-stack file below has no approval lines).
    const CAPTURED: &[&str] = &[
        r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"pushbatch","Dimensions":[["function","outcome","provider"]],"Metrics":[{"Name":"PushAnswers","Unit":"Count"}]}],"Timestamp":1796041306987},"function":"send-batch","outcome":"delivered","provider":"apns","PushAnswers":1402}"#,
        r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"pushbatch","Dimensions":[["function","provider"]],"Metrics":[{"Name":"PushLatency","Unit":"Microseconds"}]}],"Timestamp":1796041306987},"function":"send-batch","provider":"apns","PushLatency":{"Values":[415,495,583],"Counts":[700,650,52]}}"#,
        r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"pushbatch","Dimensions":[["function"]],"Metrics":[{"Name":"RequestsSubmitted","Unit":"Count"},{"Name":"Approvals","Unit":"Count"}]}],"Timestamp":1796041310001},"function":"approval","RequestsSubmitted":1,"Approvals":1}"#,
    ];

    #[test]
    fn scalars_and_distributions_parse_into_datapoints() {
        let answers = parse(CAPTURED[0]).expect("answers");
        assert_eq!(answers.len(), 1);
        assert_eq!((answers[0].name.as_str(), answers[0].sum()), ("PushAnswers", 1402.0));
        assert_eq!(answers[0].dimension("outcome"), "delivered");
        let latency = &parse(CAPTURED[1]).expect("latency")[0];
        assert_eq!(latency.count(), 1402);
        assert_eq!(latency.unit, "Microseconds");
        let approval = parse(CAPTURED[2]).expect("approval");
        assert_eq!(approval.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["RequestsSubmitted", "Approvals"]);
    }

    /// Every line send-batch and devices wrote on a local stack (watch.log).
    #[test]
    fn every_captured_line_parses() {
        let captured = include_str!("captured-emf.jsonl");
        let points: Vec<Datapoint> =
            captured.lines().flat_map(|l| parse(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
        assert!(points.len() >= captured.lines().count(), "every document holds a metric");
        for p in &points {
            assert_eq!(p.namespace, "pushbatch");
            assert!(["send-batch", "devices"].contains(&p.dimension("function")), "{p:?}");
            assert!(shared::metrics::names::find(&p.name).is_some(), "{}", p.name);
        }
        assert!(points.iter().any(|p| p.name == "DeviceRegistrations" && p.dimension("result") == "created"));
    }

    #[test]
    fn documents_cloudwatch_would_reject_are_errors() {
        let cases = [
            (
                r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[["function"]],"Metrics":[{"Name":"X"}]}],"Timestamp":1},"X":1}"#,
                "dimension function has no string value",
            ),
            (
                r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[["function"]],"Metrics":[{"Name":"X"}]}],"Timestamp":1},"function":7,"X":1}"#,
                "dimension function has no string value",
            ),
            (
                r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[[]],"Metrics":[{"Name":"X"}]}],"Timestamp":1}}"#,
                "no value member",
            ),
            (
                r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[[]],"Metrics":[{"Name":"X"}]}],"Timestamp":1},"X":{"Values":[1,2],"Counts":[1]}}"#,
                "2 values but 1 counts",
            ),
            (
                r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[[]],"Metrics":[{"Name":"X"}]}]},"X":1}"#,
                "Timestamp",
            ),
            (
                r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"p","Dimensions":[[]],"Metrics":[{"Name":"X"}]}],"Timestamp":1},"X":"1"}"#,
                "not a metric value",
            ),
        ];
        for (doc, expected) in cases {
            let err = parse(doc).expect_err(doc).to_string();
            assert!(err.contains(expected), "{doc}: {err}");
        }
        let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        let doc = format!(
            r#"{{"_aws":{{"CloudWatchMetrics":[{{"Namespace":"p","Dimensions":[[]],"Metrics":[{{"Name":"X"}}]}}],"Timestamp":1}},"X":[{}]}}"#,
            many.join(",")
        );
        assert!(parse(&doc).expect_err("101 values").to_string().contains("101 values"));
        assert!(matches!(parse("{"), Err(EmfError::NotJson(_))));
    }
}
