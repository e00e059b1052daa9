//! Where a campaign run's files live in the bucket (Contract 2).

use chrono::NaiveDate;

/// `segments/<campaign>/<YYYY-MM-DD>.jsonl`: one JSON user entry per line,
/// no header (the key names the campaign and the day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentKey {
    pub campaign: String,
    pub run_date: NaiveDate,
}

impl SegmentKey {
    pub fn new(campaign: &str, run_date: NaiveDate) -> Self {
        Self { campaign: campaign.to_owned(), run_date }
    }

    pub fn key(&self) -> String {
        format!("segments/{}/{}.jsonl", self.campaign, self.run_date)
    }

    /// The campaign and day of a segment key, or why it is not one.
    pub fn parse(key: &str) -> Result<Self, String> {
        let rest = key.strip_prefix("segments/").ok_or_else(|| format!("{key} is not under segments/"))?;
        let (campaign, file) =
            rest.split_once('/').ok_or_else(|| format!("{key}: expected segments/<campaign>/<date>.jsonl"))?;
        let date = file
            .strip_suffix(".jsonl")
            .ok_or_else(|| format!("{key}: a segment is a .jsonl file named for its UTC day"))?;
        let run_date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|e| format!("{key}: {date:?} is not a YYYY-MM-DD date ({e})"))?;
        if campaign.is_empty() || campaign.contains('/') {
            return Err(format!("{key}: expected segments/<campaign>/<date>.jsonl"));
        }
        Ok(Self { campaign: campaign.to_owned(), run_date })
    }
}

/// A variant's batch file: under `batches/`, so send-batch sends it.
pub fn variant_key(campaign: &str, run_date: NaiveDate, variant: &str) -> String {
    format!("batches/campaigns/{campaign}/{run_date}/{variant}.jsonl")
}

/// The control group: same format as a batch file, under `reports/`, which
/// nothing sends.
pub fn control_key(campaign: &str, run_date: NaiveDate) -> String {
    format!("reports/campaigns/{campaign}/{run_date}/control.jsonl")
}

/// The assignment counts of one run.
pub fn assignment_key(campaign: &str, run_date: NaiveDate) -> String {
    format!("reports/campaigns/{campaign}/{run_date}/assignment.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys_round_trip_and_bad_ones_are_named() {
        let key = SegmentKey::new("day1-signup", NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        assert_eq!(key.key(), "segments/day1-signup/2026-11-24.jsonl");
        assert_eq!(SegmentKey::parse(&key.key()).unwrap(), key);
        for bad in [
            "batches/x/2026-01-01.jsonl",
            "segments/x.jsonl",
            "segments/x/2026-13-01.jsonl",
            "segments/x/y/2026-01-01.jsonl",
            "segments/x/2026-01-01.json",
        ] {
            assert!(SegmentKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn control_is_never_under_batches() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(!control_key("c", day).starts_with("batches/"));
        assert!(variant_key("c", day, "a").starts_with("batches/"));
    }
}
