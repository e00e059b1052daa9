//! The local stack is built from the same definitions as template.yaml: the
//! tables (shared::schema) and the bucket notifications (local/routes.json).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_norway::Value;
use shared::schema::ALL_TABLES;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn resources(t: &Value) -> &serde_norway::Mapping {
    t["Resources"].as_mapping().unwrap()
}

fn resources_of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

#[test]
fn tables_match_the_schema() {
    let t = template();
    let tables = resources_of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), ALL_TABLES.len(), "template tables: {:?}", tables.iter().map(|t| t.0).collect::<Vec<_>>());
    for def in ALL_TABLES {
        let table = &t["Resources"][def.logical_id]["Properties"];
        assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"), "{}", def.logical_id);
        assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(), Some(true));
        let key = &table["KeySchema"][0];
        assert_eq!(
            (key["AttributeName"].as_str(), key["KeyType"].as_str()),
            (Some(def.partition_key), Some("HASH")),
            "{}",
            def.logical_id
        );
        let range = &table["KeySchema"][1];
        assert_eq!(
            range["AttributeName"].as_str(),
            def.sort_key,
            "{}: the sort key differs from shared::schema",
            def.logical_id
        );
        if def.sort_key.is_some() {
            assert_eq!(range["KeyType"].as_str(), Some("RANGE"), "{}", def.logical_id);
        }
        let gsis: BTreeSet<(String, String)> = table["GlobalSecondaryIndexes"]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .map(|g| {
                        (
                            g["IndexName"].as_str().unwrap().to_owned(),
                            g["KeySchema"][0]["AttributeName"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let expected: BTreeSet<(String, String)> =
            def.indexes.iter().map(|i| (i.name.to_owned(), i.partition_key.to_owned())).collect();
        assert_eq!(gsis, expected, "{} indexes", def.logical_id);
    }
}

#[derive(serde::Deserialize)]
struct Routes {
    routes: Vec<Route>,
}

#[derive(serde::Deserialize)]
struct Route {
    prefix: String,
    #[serde(default)]
    suffix: String,
    function: String,
}

/// (prefix, suffix, binary) for every S3 event in the template.
fn template_routes(t: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (_, f) in resources_of_type(t, "AWS::Serverless::Function") {
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned();
        let Some(events) = f["Properties"]["Events"].as_mapping() else { continue };
        for (_, e) in events {
            if e["Type"].as_str() != Some("S3") {
                continue;
            }
            let rules = e["Properties"]["Filter"]["S3Key"]["Rules"].as_sequence().unwrap();
            let rule = |name: &str| {
                rules
                    .iter()
                    .find(|r| r["Name"].as_str() == Some(name))
                    .and_then(|r| r["Value"].as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            out.insert((rule("prefix"), rule("suffix"), binary.clone()));
        }
    }
    out
}

#[test]
fn event_plane_routes_match_the_bucket_notifications() {
    let routes: Routes =
        serde_json::from_str(&std::fs::read_to_string(root().join("local/routes.json")).unwrap()).unwrap();
    let local: BTreeSet<_> = routes.routes.into_iter().map(|r| (r.prefix, r.suffix, r.function)).collect();
    assert_eq!(local, template_routes(&template()));
}

#[test]
fn every_function_crate_is_in_the_template() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    let declared: BTreeSet<String> = resources_of_type(&t, "AWS::Serverless::Function")
        .into_iter()
        .map(|(_, f)| {
            assert_eq!(f["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"));
            f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned()
        })
        .collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(declared, crates);
}

#[test]
fn send_batch_may_chain_and_invoke_only_itself() {
    let t = template();
    let f = &t["Resources"]["SendBatchFunction"]["Properties"];
    assert_eq!(f["RecursiveLoop"].as_str(), Some("Allow"));
    assert_eq!(f["EventInvokeConfig"]["MaximumRetryAttempts"].as_u64(), Some(2));
    assert_eq!(f["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"].as_str(), Some("SQS"));
    let statements = f["Policies"][0]["Statement"].as_sequence().unwrap();
    let invoke: Vec<&Value> = statements
        .iter()
        .filter(|s| {
            s["Action"].as_sequence().is_some_and(|a| a.iter().any(|x| x.as_str() == Some("lambda:InvokeFunction")))
        })
        .collect();
    assert_eq!(invoke.len(), 1);
    let resource = serde_norway::to_string(&invoke[0]["Resource"]).unwrap();
    assert!(resource.contains("${AWS::StackName}-send-batch"), "{resource}");
}

#[test]
fn the_shard_cap_fits_in_send_batch_reserved_concurrency() {
    let t = template();
    let default = |name: &str| t["Parameters"][name]["Default"].as_i64().unwrap_or_else(|| panic!("{name}"));
    let (cap, reserved) = (default("MaxShards"), default("SendBatchReservedConcurrency"));
    // Room for every shard of one job plus the first links of new jobs.
    assert!(reserved > cap, "reserved concurrency {reserved} must exceed MaxShards {cap}");
    let env = &t["Resources"]["SendBatchFunction"]["Properties"]["Environment"]["Variables"];
    // Shards share FCM's project quota by default.
    assert_eq!(default("FcmSharedRatePerMinute"), 600_000);
    for (var, param) in [
        ("MAX_SHARDS", "MaxShards"),
        ("SHARD_MIN_MB", "ShardMinMegabytes"),
        ("FCM_SHARED_RATE_PER_MINUTE", "FcmSharedRatePerMinute"),
        ("APNS_SHARED_RATE_PER_MINUTE", "ApnsSharedRatePerMinute"),
    ] {
        let value = serde_norway::to_string(&env[var]).unwrap();
        assert!(value.contains(param), "{var} = {value}");
    }
    let reserved =
        serde_norway::to_string(&t["Resources"]["SendBatchFunction"]["Properties"]["ReservedConcurrentExecutions"])
            .unwrap();
    assert!(reserved.contains("SendBatchReservedConcurrency"), "{reserved}");
}

#[test]
fn cfn_lint_passes() {
    let cfn_lint = root().join(".local/venv/bin/cfn-lint");
    assert!(
        cfn_lint.exists(),
        "{} is missing: run scripts/setup (it installs local/requirements.txt)",
        cfn_lint.display()
    );
    let out = std::process::Command::new(&cfn_lint).arg(root().join("template.yaml")).output().unwrap();
    assert!(
        out.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every campaign in shared::campaigns has exactly one schedule, with the
/// same expression, in UTC, whose input names it and passes the scheduled
/// time; and there is no schedule for a campaign that does not exist.
#[test]
fn schedules_match_the_campaign_definitions() {
    let t = template();
    let function = &t["Resources"]["ScheduledFunction"];
    assert_eq!(function["Metadata"]["BuildProperties"]["Binary"].as_str(), Some("scheduled"));
    let mut scheduled = BTreeSet::new();
    for (name, event) in function["Properties"]["Events"].as_mapping().expect("ScheduledFunction has Events") {
        assert_eq!(event["Type"].as_str(), Some("ScheduleV2"), "{name:?}");
        let props = &event["Properties"];
        assert_eq!(props["ScheduleExpressionTimezone"].as_str(), Some("UTC"), "{name:?}");
        let input: serde_json::Value = serde_json::from_str(props["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input["time"], "<aws.scheduler.scheduled-time>", "{name:?}");
        let id = input["campaign"].as_str().unwrap().to_owned();
        let campaign = shared::campaigns::find(&id).unwrap_or_else(|| panic!("{name:?} schedules unknown {id}"));
        assert_eq!(props["ScheduleExpression"].as_str(), Some(campaign.schedule), "{id}");
        assert!(scheduled.insert(id.clone()), "{id} is scheduled twice");
    }
    let defined: BTreeSet<String> = shared::campaigns::ALL.iter().map(|c| c.id.to_owned()).collect();
    assert_eq!(scheduled, defined);
}

/// Every function has an alarm on its errors, and send-batch one on links
/// that wait or are dropped (a stuck job).
#[test]
fn every_function_has_an_errors_alarm_and_stuck_jobs_alarm() {
    let t = template();
    let alarms = resources_of_type(&t, "AWS::CloudWatch::Alarm");
    let watched = |metric: &str, function: &str| {
        alarms.iter().any(|(_, a)| {
            // `!Ref X` is a tagged value, written back as it reads.
            let value = serde_norway::to_string(&a["Properties"]["Dimensions"][0]["Value"]).unwrap_or_default();
            a["Properties"]["MetricName"].as_str() == Some(metric) && value.trim() == format!("!Ref {function}")
        })
    };
    for (logical_id, _) in resources_of_type(&t, "AWS::Serverless::Function") {
        assert!(watched("Errors", logical_id), "{logical_id} has no Errors alarm");
    }
    assert!(watched("AsyncEventAge", "SendBatchFunction"), "no stuck-link alarm");
    assert!(watched("AsyncEventsDropped", "SendBatchFunction"), "no dropped-link alarm");
}

/// Every function has sample events in events/, named `<function>-*.json`,
/// and every sample belongs to a function (each function's own tests check
/// that its samples deserialize into its handler's input).
#[test]
fn every_function_has_sample_events() {
    let functions: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let samples: Vec<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for sample in &samples {
        assert!(
            functions.iter().any(|f| sample.starts_with(&format!("{f}-"))),
            "events/{sample} is not named for a function"
        );
    }
    for function in &functions {
        assert!(samples.iter().any(|s| s.starts_with(&format!("{function}-"))), "{function} has no sample event");
    }
}

/// Alarms whose `AlarmActions` do not notify the AlarmTopic.
fn alarms_without_actions(t: &Value) -> Vec<String> {
    resources_of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            let actions = serde_norway::to_string(&a["Properties"]["AlarmActions"]).unwrap_or_default();
            !actions.contains("!Ref AlarmTopic")
        })
        .map(|(id, _)| id.to_owned())
        .collect()
}

/// Every alarm reaches a person: it notifies AlarmTopic, which AlarmEmail
/// subscribes to when it is set.
#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let t = template();
    assert!(resources_of_type(&t, "AWS::CloudWatch::Alarm").len() >= 11);
    assert_eq!(alarms_without_actions(&t), Vec::<String>::new());
    for recovers in
        ["SendBatchStuckJobAlarm", "SendBatchFailureRateAlarm", "FailedLinksAlarm", "SendBatchStuckLinkAlarm"]
    {
        let ok = serde_norway::to_string(&t["Resources"][recovers]["Properties"]["OKActions"]).unwrap();
        assert!(ok.contains("!Ref AlarmTopic"), "{recovers} does not say it recovered: {ok}");
    }
    let subscription = &t["Resources"]["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert_eq!(subscription["Properties"]["Protocol"].as_str(), Some("email"));
    assert_eq!(t["Parameters"]["AlarmEmail"]["Default"].as_str(), Some(""));

    // The check can fail: an alarm without actions is named.
    let mut broken = t.clone();
    let alarm = broken["Resources"]["FailedLinksAlarm"]["Properties"].as_mapping_mut().unwrap();
    alarm.remove("AlarmActions");
    assert_eq!(alarms_without_actions(&broken), ["FailedLinksAlarm"]);
}

/// `(namespace, metric, dimension names)` of every metric an array in a
/// dashboard widget names (`[namespace, name, dim, value, ..., {options}]`).
fn dashboard_metrics(body: &serde_json::Value) -> Vec<(String, String, Vec<String>)> {
    let mut found = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for m in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let parts: Vec<&str> = m.as_array().expect("a metric array").iter().filter_map(|v| v.as_str()).collect();
            if parts.len() >= 2 {
                let dims = parts[2..].iter().step_by(2).map(|d| d.to_string()).collect();
                found.push((parts[0].to_owned(), parts[1].to_owned(), dims));
            }
        }
    }
    found
}

/// The dashboard body with every `${...}` of its `!Sub` replaced.
fn dashboard_body(t: &Value) -> serde_json::Value {
    let body = match &t["Resources"]["Dashboard"]["Properties"]["DashboardBody"] {
        Value::Tagged(tagged) => tagged.value.as_str().expect("!Sub of a string").to_owned(),
        other => panic!("DashboardBody is not a !Sub: {other:?}"),
    };
    let mut text = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closed ${") + start;
        text.push_str(&rest[..start]);
        // Numbers stand unquoted in the JSON (annotation values): 1 parses
        // both there and inside strings.
        text.push('1');
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{text}"))
}

/// A pushbatch metric named in the template must be one shared::metrics
/// publishes, with dimensions it carries: the two cannot drift apart.
fn check_published(metric: &str, dims: &[String], place: &str) {
    use shared::metrics::names;
    let published = names::find(metric).unwrap_or_else(|| panic!("{place}: {metric} is not in shared::metrics::names"));
    for d in dims {
        assert!(
            d == names::FUNCTION || published.dimensions.contains(&d.as_str()),
            "{place}: {metric} has no dimension {d} (it has {:?})",
            published.dimensions
        );
    }
    assert!(dims.iter().any(|d| d == names::FUNCTION), "{place}: {metric} without its function dimension");
}

#[test]
fn dashboard_and_alarms_name_only_metrics_the_code_publishes() {
    use shared::metrics::names;
    let t = template();
    let body = dashboard_body(&t);
    let metrics = dashboard_metrics(&body);
    let ours: Vec<_> = metrics.iter().filter(|(ns, _, _)| ns == names::NAMESPACE).collect();
    for (_, metric, dims) in &ours {
        check_published(metric, dims, "Dashboard");
    }
    let shown: BTreeSet<&str> = ours.iter().map(|(_, m, _)| m.as_str()).collect();
    for needed in ["PushAnswers", "DevicesFailed", "DevicesAttempted", "PushLatency", "SecondsSinceCheckpoint"] {
        assert!(shown.contains(needed), "the dashboard does not show {needed}");
    }
    let others: BTreeSet<(&str, &str)> = metrics
        .iter()
        .filter(|(ns, _, _)| ns != names::NAMESPACE)
        .map(|(ns, m, _)| (ns.as_str(), m.as_str()))
        .collect();
    assert!(others.contains(&("AWS/Lambda", "ConcurrentExecutions")), "chains running");
    assert!(others.contains(&("AWS/SQS", "ApproximateNumberOfMessagesVisible")), "the failed-links queue");

    for (id, alarm) in resources_of_type(&t, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        let mut named: Vec<&Value> = Vec::new();
        if p["Namespace"].as_str().is_some() {
            named.push(p);
        }
        for m in p["Metrics"].as_sequence().into_iter().flatten() {
            named.push(&m["MetricStat"]["Metric"]);
        }
        for m in named.into_iter().filter(|m| m["Namespace"].as_str() == Some(names::NAMESPACE)) {
            let dims: Vec<String> = m["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|d| d["Name"].as_str().map(str::to_owned))
                .collect();
            check_published(m["MetricName"].as_str().expect("MetricName"), &dims, id);
        }
    }
}

/// EMF needs no permission beyond writing logs: no function may publish
/// metrics through the API.
#[test]
fn no_function_may_put_metric_data() {
    let t = template();
    let functions = resources_of_type(&t, "AWS::Serverless::Function");
    assert!(functions.len() >= 5);
    for (id, f) in functions {
        let policies = serde_norway::to_string(&f["Properties"]["Policies"]).unwrap();
        assert!(policies.contains("Action"), "{id}: no statements read");
        assert!(!policies.contains("cloudwatch:"), "{id} may call CloudWatch: EMF needs no permission\n{policies}");
    }
}

/// The stuck-job threshold is send-batch's lease plus its margin, as its
/// settings define them by default.
#[test]
fn the_stuck_job_threshold_is_the_lease_plus_the_margin() {
    let settings = std::fs::read_to_string(root().join("functions/send-batch/src/settings.rs")).unwrap();
    let default_of = |var: &str| -> f64 {
        let at = settings.find(&format!("\"{var}\", ")).unwrap_or_else(|| panic!("{var} in settings.rs"));
        let rest = &settings[at + var.len() + 4..];
        let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        number.parse().unwrap_or_else(|e| panic!("{var}'s default {number:?}: {e}"))
    };
    let lease = default_of("LEASE_SECONDS");
    // The margin's floor: `floor_default`, 20 s unless MAX_RUN_SECONDS is short.
    assert!(settings.contains("max_run.map_or(20.0,"), "the margin's default moved: update StuckJobSeconds");
    let t = template();
    assert_eq!(t["Parameters"]["StuckJobSeconds"]["Default"].as_f64(), Some(lease + 20.0));
    let alarm = &t["Resources"]["SendBatchStuckJobAlarm"]["Properties"];
    assert_eq!(alarm["MetricName"].as_str(), Some(shared::metrics::names::SECONDS_SINCE_CHECKPOINT.name));
    assert_eq!(serde_norway::to_string(&alarm["Threshold"]).unwrap().trim(), "!Ref StuckJobSeconds");
}

/// README's Operations section names every metric the code publishes and
/// every alarm the template defines, each with what to do.
#[test]
fn readme_describes_every_metric_and_alarm() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ops = &readme[readme.find("## Operations").expect("an Operations section")..];
    for m in shared::metrics::names::ALL {
        assert!(ops.contains(&format!("`{}`", m.name)), "README's Operations does not describe {}", m.name);
    }
    for (id, _) in resources_of_type(&template(), "AWS::CloudWatch::Alarm") {
        assert!(ops.contains(&format!("`{id}`")), "README's Operations has no runbook line for {id}");
    }
}
