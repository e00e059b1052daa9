//! `pushbatch seed --users N …`.

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use shared::schema::{DEVICES, USERS};

use super::{ProfileOptions, SeedError, SeedOptions, write_profiles, write_users};
use crate::aws_clients;
use crate::context::Context;

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many users to write
    #[arg(long)]
    pub users: u64,
    /// Share of devices with a dead token (prefix `dead`)
    #[arg(long, default_value_t = 0.05)]
    pub dead_fraction: f64,
    /// Share of users with push_enabled = false
    #[arg(long, default_value_t = 0.0)]
    pub opted_out_fraction: f64,
    /// Share of users whose first device is iOS
    #[arg(long, default_value_t = 0.5)]
    pub ios_fraction: f64,
    /// Share of users with a second device on the other platform
    #[arg(long, default_value_t = 0.2)]
    pub second_device_fraction: f64,
    /// Share of users with muted_categories
    #[arg(long, default_value_t = 0.0)]
    pub muted_fraction: f64,
    /// Random seed: the same seed and options give the same users
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// User id prefix (ids are <prefix>000001, …)
    #[arg(long, default_value = "u-")]
    pub prefix: String,
    /// BatchWriteItem calls in flight
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// The newest sign-up / activity day of the users-table profiles
    /// (YYYY-MM-DD, UTC; default today)
    #[arg(long)]
    pub today: Option<chrono::NaiveDate>,
    /// Sign-ups spread over this many days up to --today
    #[arg(long, default_value_t = 30)]
    pub span_days: u64,
    /// Share of users who completed their sign-up
    #[arg(long, default_value_t = 0.6)]
    pub completed_fraction: f64,
    /// Write only the devices table, not the users table's profiles
    #[arg(long)]
    pub no_profiles: bool,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
    /// Allow writing without a local endpoint (no env file and no
    /// AWS_ENDPOINT_URL_DYNAMODB): i.e. into a real AWS account
    #[arg(long)]
    pub aws: bool,
}

impl SeedArgs {
    pub fn options(&self) -> SeedOptions {
        SeedOptions {
            users: self.users,
            dead_fraction: self.dead_fraction,
            opted_out_fraction: self.opted_out_fraction,
            ios_fraction: self.ios_fraction,
            second_device_fraction: self.second_device_fraction,
            muted_fraction: self.muted_fraction,
            seed: self.seed,
            prefix: self.prefix.clone(),
        }
    }
}

pub async fn run(args: SeedArgs, ctx: &Context) -> Result<ExitCode, SeedError> {
    let opts = args.options();
    opts.validate()?;
    let env = ctx.env()?;
    let local = env.get("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| env.get("AWS_ENDPOINT_URL")).is_some();
    if !local && !args.aws {
        return Err(SeedError::NoEndpoint);
    }
    let table = env.get_or(DEVICES.env, DEVICES.default_name).to_string();
    let users_table = env.get_or(USERS.env, USERS.default_name).to_string();
    if !(0.0..=1.0).contains(&args.completed_fraction) {
        return Err(SeedError::BadFraction { name: "completed-fraction", value: args.completed_fraction });
    }
    let profiles = ProfileOptions {
        today: args.today.unwrap_or_else(|| chrono::Utc::now().date_naive()),
        span_days: args.span_days.max(1),
        completed_fraction: args.completed_fraction,
    };
    let sdk = aws_clients::sdk_config(&env).await;
    let client = aws_clients::dynamodb(&sdk, &env);

    let progress = crate::progress::counter(!args.json, opts.users, "users");
    let started = Instant::now();
    let summary = write_users(&client, &table, &opts, args.concurrency, &progress).await?;
    progress.finish_and_clear();
    if !args.no_profiles {
        let progress = crate::progress::counter(!args.json, opts.users, "profiles");
        write_profiles(&client, &users_table, &opts, &profiles, args.concurrency, &progress).await?;
        progress.finish_and_clear();
    }
    let elapsed = started.elapsed();

    if args.json {
        println!("{}", serde_json::to_string(&summary).expect("SeedSummary serialises: only integers"));
    } else {
        let rate = summary.users as f64 / elapsed.as_secs_f64().max(1e-9);
        if !args.no_profiles {
            println!(
                "profiles in {users_table}: sign-ups over the {} days up to {}, {:.0}% completed",
                profiles.span_days,
                profiles.today,
                profiles.completed_fraction * 100.0
            );
        }
        println!("seeded {} users into {table} in {:.1}s ({rate:.0} users/s)", summary.users, elapsed.as_secs_f64());
        println!(
            "devices: {} ios ({} dead), {} android ({} dead); opted out: {}; muted: {}",
            summary.ios_devices,
            summary.dead_ios,
            summary.android_devices,
            summary.dead_android,
            summary.opted_out,
            summary.muted
        );
    }
    Ok(ExitCode::SUCCESS)
}
