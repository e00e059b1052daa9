//! What a job cost on AWS, from what it used, and what Amazon SNS mobile
//! push would have charged for the same deliveries.
//!
//! The prices are `bench/cost.py`'s, so the benchmark's model and a job's
//! `summary.json` agree; a price change changes both.

use serde::{Deserialize, Serialize};

pub mod meter;

/// List prices, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    pub as_of: &'static str,
    pub source: &'static str,
    pub lambda_arm64_per_gb_second: f64,
    pub lambda_per_million_requests: f64,
    /// GET and HEAD (and the other "GET, SELECT and all other" requests).
    pub s3_get_per_thousand: f64,
    pub s3_put_per_thousand: f64,
    /// S3 prices LIST with PUT, COPY and POST.
    pub s3_list_per_thousand: f64,
    pub dynamodb_per_million_read_units: f64,
    pub dynamodb_per_million_write_units: f64,
    /// Per million deliveries, past the monthly free tier (not modelled).
    pub sns_mobile_push_per_million: f64,
}

/// us-east-1 list prices as of 2026-11 (bench/cost.py): Lambda arm64, S3
/// Standard, DynamoDB on-demand, SNS mobile push notifications.
pub const LIST_PRICES: Prices = Prices {
    as_of: "2026-11",
    source: "AWS list prices, us-east-1 (aws.amazon.com/lambda|s3|dynamodb|sns/pricing), as in bench/cost.py",
    lambda_arm64_per_gb_second: 0.000_013_333_4,
    lambda_per_million_requests: 0.20,
    s3_get_per_thousand: 0.0004,
    s3_put_per_thousand: 0.005,
    s3_list_per_thousand: 0.005,
    dynamodb_per_million_read_units: 0.125,
    dynamodb_per_million_write_units: 0.625,
    sns_mobile_push_per_million: 0.50,
};

/// What one job used: Lambda time and requests, S3 requests by price
/// class, DynamoDB capacity units.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub gb_seconds: f64,
    pub invocations: u64,
    /// GetObject and HeadObject requests.
    pub s3_get: u64,
    /// PutObject, and each part of a multipart upload.
    pub s3_put: u64,
    pub s3_list: u64,
    pub dynamodb_read_units: f64,
    pub dynamodb_write_units: f64,
}

impl Usage {
    /// Adds another's use into this one (a link's into its job, a shard's
    /// or part's into its job).
    pub fn add(&mut self, other: &Usage) {
        self.gb_seconds += other.gb_seconds;
        self.invocations += other.invocations;
        self.s3_get += other.s3_get;
        self.s3_put += other.s3_put;
        self.s3_list += other.s3_list;
        self.dynamodb_read_units += other.dynamodb_read_units;
        self.dynamodb_write_units += other.dynamodb_write_units;
    }

    /// GB-seconds of `seconds` billed at `memory_mb` (Lambda bills memory in
    /// GB, 1024 MB each).
    pub fn gb_seconds(memory_mb: u32, seconds: f64) -> f64 {
        memory_mb as f64 / 1024.0 * seconds
    }
}

/// A job's cost, by service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub lambda_compute_usd: f64,
    pub lambda_requests_usd: f64,
    pub s3_usd: f64,
    pub dynamodb_usd: f64,
    pub total_usd: f64,
    /// What SNS mobile push would have charged for the same deliveries.
    pub sns_mobile_push_usd: f64,
}

/// A finished job's cost receipt (`summary.json`'s `cost`): what it used,
/// priced, and the prices' date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub usage: Usage,
    /// Deliveries SNS mobile push is priced on.
    pub deliveries: u64,
    #[serde(flatten)]
    pub cost: Cost,
    pub prices_as_of: String,
}

impl Receipt {
    pub fn of(usage: &Usage, deliveries: u64) -> Self {
        Receipt {
            usage: *usage,
            deliveries,
            cost: LIST_PRICES.price(usage, deliveries),
            prices_as_of: LIST_PRICES.as_of.to_owned(),
        }
    }
}

impl Prices {
    /// The cost of `usage`, next to SNS mobile push's price for
    /// `deliveries` pushes.
    pub fn price(&self, usage: &Usage, deliveries: u64) -> Cost {
        let lambda_compute_usd = usage.gb_seconds * self.lambda_arm64_per_gb_second;
        let lambda_requests_usd = usage.invocations as f64 * self.lambda_per_million_requests / 1e6;
        let s3_usd = (usage.s3_get as f64 * self.s3_get_per_thousand
            + usage.s3_put as f64 * self.s3_put_per_thousand
            + usage.s3_list as f64 * self.s3_list_per_thousand)
            / 1e3;
        let dynamodb_usd = (usage.dynamodb_read_units * self.dynamodb_per_million_read_units
            + usage.dynamodb_write_units * self.dynamodb_per_million_write_units)
            / 1e6;
        Cost {
            lambda_compute_usd,
            lambda_requests_usd,
            s3_usd,
            dynamodb_usd,
            total_usd: lambda_compute_usd + lambda_requests_usd + s3_usd + dynamodb_usd,
            sns_mobile_push_usd: deliveries as f64 * self.sns_mobile_push_per_million / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// A million users at one device each, by hand from the table:
    /// 1000 GB-s × $0.0000133334 = $0.0133334; 12 invocations × $0.20/M =
    /// $0.0000024; 13 GETs × $0.0004/k + 2 PUTs × $0.005/k + 1 LIST ×
    /// $0.005/k = $0.0000202; 500,000 RRU × $0.125/M + 4,024 WRU ×
    /// $0.625/M = $0.0625 + $0.002515; total $0.078371. SNS: $0.50.
    #[test]
    fn a_million_pushes_priced_by_hand() {
        let usage = Usage {
            gb_seconds: 1000.0,
            invocations: 12,
            s3_get: 13,
            s3_put: 2,
            s3_list: 1,
            dynamodb_read_units: 500_000.0,
            dynamodb_write_units: 4_024.0,
        };
        let c = LIST_PRICES.price(&usage, 1_000_000);
        assert!(close(c.lambda_compute_usd, 0.013_333_4), "{c:?}");
        assert!(close(c.lambda_requests_usd, 0.000_002_4), "{c:?}");
        assert!(close(c.s3_usd, 0.000_020_2), "{c:?}");
        assert!(close(c.dynamodb_usd, 0.065_015), "{c:?}");
        assert!(close(c.total_usd, 0.078_371), "{c:?}");
        assert!(close(c.sns_mobile_push_usd, 0.50), "{c:?}");
    }

    #[test]
    fn gb_seconds_follow_the_memory_setting() {
        // send-batch's 1024 MB for 90 s, and 256 MB (devices) for 2 s.
        assert!(close(Usage::gb_seconds(1024, 90.0), 90.0));
        assert!(close(Usage::gb_seconds(256, 2.0), 0.5));
        let c = LIST_PRICES.price(&Usage { gb_seconds: 90.0, ..Usage::default() }, 0);
        assert!(close(c.total_usd, 0.001_200_006), "{c:?}");
        assert_eq!(c.sns_mobile_push_usd, 0.0);
    }

    #[test]
    fn nothing_used_costs_nothing() {
        assert_eq!(LIST_PRICES.price(&Usage::default(), 0).total_usd, 0.0);
    }
}
