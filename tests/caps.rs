//! Frequency caps against dynalite: the conditional updates send-batch
//! relies on. Two jobs racing for the same users never count past a cap,
//! a category counts apart from the total, and an entry taken again (a
//! batch re-sent after a crash) is admitted without counting twice, also
//! where the table does not return the item with a failed condition.

use std::sync::Arc;

use pushbatch_tests::{Part, Stack, StackOptions};
use shared::caps::{CapTake, DynamoCaps, Limits, mark};

const DAY: &str = "2026-12-01";

async fn caps(stack: &Stack) -> anyhow::Result<DynamoCaps> {
    Ok(DynamoCaps::new(stack.dynamodb().await, stack.var("CAPS_TABLE")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_hold_across_racing_jobs_categories_and_resends() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::only(&[Part::Dynalite])).await?;
    let caps = Arc::new(caps(&stack).await?);

    // Two jobs take the same 60 users at once with a cap of one: each user
    // is admitted exactly once.
    let one = Limits { per_day: Some(1), category: None };
    let users: Vec<String> = (0..60).map(|i| format!("race-{i}")).collect();
    let mut tasks = Vec::new();
    for job in ["job-a", "job-b"] {
        let (caps, users, one) = (caps.clone(), users.clone(), one.clone());
        tasks.push(tokio::spawn(async move {
            let mut admitted = Vec::new();
            for (offset, user) in users.iter().enumerate() {
                admitted.push(caps.take(user, DAY, &one, &mark(job, offset as u64)).await?);
            }
            anyhow::Ok(admitted)
        }));
    }
    let mut per_user = vec![0; users.len()];
    for task in tasks {
        for (i, ok) in task.await??.into_iter().enumerate() {
            per_user[i] += u32::from(ok);
        }
    }
    assert!(per_user.iter().all(|&n| n == 1), "each user admitted once: {per_user:?}");

    // A re-sent entry is admitted again, and does not count.
    let user = "resend";
    assert!(caps.take(user, DAY, &one, &mark("job-c", 10)).await?);
    assert!(caps.take(user, DAY, &one, &mark("job-c", 10)).await?, "the same entry again");
    assert!(!caps.take(user, DAY, &one, &mark("job-c", 99)).await?, "another entry is capped");
    assert!(caps.take(user, "2026-12-02", &one, &mark("job-d", 10)).await?, "a new local day");

    // A category's cap counts apart, within the total.
    let user = "categories";
    let promo = Limits { per_day: Some(3), category: Some(("promo".into(), 1)) };
    let news = Limits { per_day: Some(3), category: Some(("news".into(), 5)) };
    assert!(caps.take(user, DAY, &promo, &mark("p1", 0)).await?);
    assert!(!caps.take(user, DAY, &promo, &mark("p2", 0)).await?, "one promo a day");
    assert!(caps.take(user, DAY, &news, &mark("n1", 0)).await?);
    assert!(caps.take(user, DAY, &news, &mark("n2", 0)).await?);
    assert!(!caps.take(user, DAY, &news, &mark("n3", 0)).await?, "three in all");
    Ok(())
}
