//! Users-table records for the seeded users: sign-up day, last active day,
//! whether the sign-up was completed. Like the devices, user `i`'s profile
//! depends only on the options and `i`, so a test knows beforehand whom
//! each campaign selects.

use chrono::{Days, NaiveDate};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use shared::users::UserRecord;

use super::generate::{SeedOptions, mix, user_id};

/// How profiles are spread over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileOptions {
    /// The newest sign-up and activity day.
    pub today: NaiveDate,
    /// Sign-ups fall uniformly in the `span_days` days up to `today`.
    pub span_days: u64,
    /// Share of users who finished signing up.
    pub completed_fraction: f64,
}

impl ProfileOptions {
    pub fn new(today: NaiveDate) -> Self {
        Self { today, span_days: 30, completed_fraction: 0.6 }
    }
}

/// Keeps profile draws independent of the device draws of the same user.
const PROFILE_STREAM: u64 = 0x5052_4f46_494c_4553;

/// User number `index`'s profile. Last activity is uniform between the
/// sign-up day and `today`.
pub fn user_profile(index: u64, opts: &SeedOptions, profiles: &ProfileOptions) -> UserRecord {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(opts.seed ^ PROFILE_STREAM, index));
    let signup_ago = rng.random_range(0..profiles.span_days.max(1));
    let active_ago = rng.random_range(0..=signup_ago);
    let day = |ago: u64| profiles.today.checked_sub_days(Days::new(ago)).unwrap_or(profiles.today);
    UserRecord {
        user_id: user_id(index, &opts.prefix),
        signup_day: day(signup_ago),
        last_active_day: day(active_ago),
        signup_completed: rng.random_bool(profiles.completed_fraction.clamp(0.0, 1.0)),
        name: Some(format!("User {}", index + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_deterministic_and_within_the_span() {
        let opts = SeedOptions { users: 1000, ..SeedOptions::default() };
        let p = ProfileOptions::new(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        let first = p.today.checked_sub_days(Days::new(29)).unwrap();
        let mut completed = 0;
        for i in 0..1000 {
            let u = user_profile(i, &opts, &p);
            assert_eq!(u, user_profile(i, &opts, &p));
            assert!(u.signup_day >= first && u.signup_day <= p.today, "{u:?}");
            assert!(u.last_active_day >= u.signup_day && u.last_active_day <= p.today, "{u:?}");
            completed += u64::from(u.signup_completed);
        }
        assert!((500..700).contains(&completed), "{completed}");
    }
}
