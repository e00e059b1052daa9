//! `pushbatch seed`: synthetic users and devices for the devices table.

pub mod cli;
mod generate;
mod profile;
mod write;

pub use generate::{
    APNS_TOKEN_LEN, APP_ID, DEAD_PREFIX, FCM_TOKEN_LEN, MUTED_CATEGORIES, Platform, SeedDevice, SeedOptions,
    SeedSummary, SeedUser, summarize, user_id, user_record,
};
pub use profile::{ProfileOptions, user_profile};
pub use write::{BATCH_ITEMS, user_item, write_profiles, write_users};

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("--{name} must be between 0 and 1, got {value}")]
    BadFraction { name: &'static str, value: f64 },
    #[error("BatchWriteItem failed: {0}")]
    Write(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{items} items still unprocessed after {attempts} attempts (table overloaded?)")]
    Unprocessed { items: usize, attempts: u32 },
    #[error(
        "no DynamoDB endpoint configured (no env file, no AWS_ENDPOINT_URL_DYNAMODB): start the local \
         stack (`pushbatch local up`), pass --env-file, or pass --aws to write into a real account"
    )]
    NoEndpoint,
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
}
