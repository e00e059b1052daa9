//! `pushbatch seed` against dynalite: the generator is deterministic and
//! hits its fractions, and the table ends up holding exactly the generated
//! items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Select};
use pushbatch::seed::{SeedOptions, summarize, user_item, user_record, write_users};
use pushbatch_tests::{Part, Stack, StackOptions};
use shared::schema::DEVICES;

fn options(users: u64) -> SeedOptions {
    SeedOptions {
        users,
        dead_fraction: 0.1,
        opted_out_fraction: 0.05,
        ios_fraction: 0.6,
        muted_fraction: 0.1,
        ..SeedOptions::default()
    }
}

#[test]
fn generator_is_deterministic_and_hits_fractions() {
    let opts = options(10_000);
    let first = summarize(&opts);
    assert_eq!(first, summarize(&opts), "same options, same population");
    for index in [0, 1, 4_999, 9_999] {
        assert_eq!(user_record(index, &opts), user_record(index, &opts));
    }

    let users = first.users as f64;
    let devices = (first.ios_devices + first.android_devices) as f64;
    let within = |got: f64, want: f64, what: &str| {
        assert!((got - want).abs() <= 0.02, "{what}: {got:.4} vs {want}");
    };
    within((first.dead_ios + first.dead_android) as f64 / devices, 0.1, "dead devices");
    within(first.opted_out as f64 / users, 0.05, "opted out");
    within(first.muted as f64 / users, 0.1, "muted");
    within(devices / users - 1.0, 0.2, "users with a second device");
    // Second devices are on the other platform, so iOS devices are
    // 0.6 (first) + 0.2 × 0.4 (second on iOS) per user.
    within(first.ios_devices as f64 / users, 0.6 + 0.2 * 0.4, "ios devices per user");

    let reseeded = SeedOptions { seed: 43, ..opts };
    assert_ne!(user_record(0, &reseeded), user_record(0, &options(10_000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeding_writes_exactly_the_generated_items() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::only(&[Part::Dynalite])).await?;
    let client = stack.dynamodb().await;
    let table = stack.var(DEVICES.env)?.to_string();
    let opts = options(2_000);

    let progress = pushbatch::progress::counter(false, opts.users, "users");
    let written = write_users(&client, &table, &opts, 16, &progress).await?;
    assert_eq!(written, summarize(&opts));

    let count = count_items(&client, &table).await?;
    assert_eq!(count, 2_000);

    // Items read back equal what the generator says, attribute for attribute.
    let sample: Vec<u64> = vec![0, 1, 2, 24, 25, 999, 1_998, 1_999];
    let keys = sample
        .iter()
        .map(|&i| {
            HashMap::from([(DEVICES.partition_key.to_string(), AttributeValue::S(user_record(i, &opts).user_id))])
        })
        .collect();
    let got = client
        .batch_get_item()
        .request_items(&table, KeysAndAttributes::builder().set_keys(Some(keys)).build()?)
        .send()
        .await?;
    let items = got.responses.and_then(|mut r| r.remove(&table)).unwrap_or_default();
    assert_eq!(items.len(), sample.len());
    for index in sample {
        let expected = user_item(&user_record(index, &opts));
        assert!(items.contains(&expected), "user {index} differs in the table");
    }

    // Seeding again with the same options overwrites in place.
    let again = write_users(&client, &table, &opts, 4, &progress).await?;
    assert_eq!(again, written);
    assert_eq!(count_items(&client, &table).await?, 2_000);
    Ok(())
}

async fn count_items(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<i32> {
    let mut count = 0;
    let mut start_key = None;
    loop {
        let page =
            client.scan().table_name(table).select(Select::Count).set_exclusive_start_key(start_key).send().await?;
        count += page.count();
        start_key = page.last_evaluated_key;
        if start_key.is_none() {
            return Ok(count);
        }
    }
}
