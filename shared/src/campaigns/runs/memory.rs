//! Campaign runs in memory, for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::ports::{RunClaim, RunError, RunFinish, RunList, RunSplit};
use super::record::{CampaignRun, Claim, RunState, SplitRecord};

#[derive(Default)]
pub struct MemoryRuns {
    runs: Mutex<BTreeMap<(String, String), CampaignRun>>,
}

impl MemoryRuns {
    pub fn get(&self, campaign: &str, run_date: &str) -> Option<CampaignRun> {
        self.lock().get(&(campaign.to_owned(), run_date.to_owned())).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), CampaignRun>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn upsert(&self, campaign: &str, run_date: &str, f: impl FnOnce(&mut CampaignRun)) {
        let mut runs = self.lock();
        let run = runs
            .entry((campaign.to_owned(), run_date.to_owned()))
            .or_insert_with(|| CampaignRun::new(campaign, run_date));
        f(run);
    }
}

impl RunClaim for MemoryRuns {
    async fn claim(
        &self,
        campaign: &str,
        run_date: &str,
        target_day: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, RunError> {
        if let Some(run) = self.get(campaign, run_date) {
            match run.state {
                Some(RunState::Querying) if run.lease_until_ms >= now_ms => return Ok(Claim::Busy(run)),
                Some(RunState::Segmented | RunState::Empty) => return Ok(Claim::Done(run)),
                _ => {}
            }
        }
        self.upsert(campaign, run_date, |run| {
            run.state = Some(RunState::Querying);
            run.target_day = Some(target_day.to_owned());
            run.lease_until_ms = now_ms + lease_ms;
            run.started_at_ms = now_ms;
            run.updated_at_ms = now_ms;
        });
        Ok(Claim::Claimed)
    }
}

impl RunFinish for MemoryRuns {
    async fn finish(
        &self,
        campaign: &str,
        run_date: &str,
        state: RunState,
        users: u64,
        segment_key: Option<&str>,
        now_ms: i64,
    ) -> Result<(), RunError> {
        self.upsert(campaign, run_date, |run| {
            run.state = Some(state);
            run.users = users;
            run.updated_at_ms = now_ms;
            if let Some(key) = segment_key {
                run.segment_key = Some(key.to_owned());
            }
        });
        Ok(())
    }
}

impl RunSplit for MemoryRuns {
    async fn record_split(&self, campaign: &str, run_date: &str, split: &SplitRecord) -> Result<(), RunError> {
        self.upsert(campaign, run_date, |run| run.split = Some(split.clone()));
        Ok(())
    }
}

impl RunList for MemoryRuns {
    async fn list(&self, campaign: &str, since: Option<&str>) -> Result<Vec<CampaignRun>, RunError> {
        Ok(self
            .lock()
            .values()
            .filter(|r| r.campaign == campaign && since.is_none_or(|s| r.run_date.as_str() >= s))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_is_taken_once_and_taken_over_only_after_its_lease() {
        let runs = MemoryRuns::default();
        assert_eq!(runs.claim("c", "2026-01-02", "2026-01-01", 1_000, 500).await.unwrap(), Claim::Claimed);
        assert!(matches!(runs.claim("c", "2026-01-02", "2026-01-01", 1_200, 500).await.unwrap(), Claim::Busy(_)));
        // The holder crashed: its lease ran out.
        assert_eq!(runs.claim("c", "2026-01-02", "2026-01-01", 1_600, 500).await.unwrap(), Claim::Claimed);
        runs.finish("c", "2026-01-02", RunState::Segmented, 7, Some("segments/c/2026-01-02.jsonl"), 1_700)
            .await
            .unwrap();
        match runs.claim("c", "2026-01-02", "2026-01-01", 9_999_999, 500).await.unwrap() {
            Claim::Done(run) => assert_eq!((run.users, run.state), (7, Some(RunState::Segmented))),
            other => panic!("{other:?}"),
        }
        assert_eq!(runs.list("c", Some("2026-01-03")).await.unwrap(), vec![]);
        assert_eq!(runs.list("c", Some("2026-01-02")).await.unwrap().len(), 1);
    }
}
