//! What the approval, devices, scheduled and ab-split functions publish.

/// The approval flow.
pub mod approval {
    use super::super::names::{APPROVALS, EXPIRED_LINKS, REJECTIONS, REQUESTS_SUBMITTED, TEST_SENDS};

    pub fn submitted() {
        metrics::counter!(REQUESTS_SUBMITTED.name).increment(1);
    }

    pub fn approved() {
        metrics::counter!(APPROVALS.name).increment(1);
    }

    pub fn rejected() {
        metrics::counter!(REJECTIONS.name).increment(1);
    }

    pub fn expired_link() {
        metrics::counter!(EXPIRED_LINKS.name).increment(1);
    }

    pub fn test_send() {
        metrics::counter!(TEST_SENDS.name).increment(1);
    }
}

/// The devices API.
pub mod devices {
    use super::super::names::{DEVICE_REGISTRATIONS, DEVICE_UNREGISTRATIONS, DEVICES_EVICTED};
    use super::super::push::Provider;

    /// A registration: a new device (`created`) or a refreshed one.
    pub fn registered(provider: Provider, created: bool, evicted: &[Provider]) {
        let result = if created { "created" } else { "refreshed" };
        metrics::counter!(DEVICE_REGISTRATIONS.name, "provider" => provider.as_str(), "result" => result).increment(1);
        for p in evicted {
            metrics::counter!(DEVICES_EVICTED.name, "provider" => p.as_str()).increment(1);
        }
    }

    pub fn unregistered() {
        metrics::counter!(DEVICE_UNREGISTRATIONS.name).increment(1);
    }
}

/// The scheduled campaigns. Campaign and variant ids are defined in code
/// (`crate::campaigns::defs`), so they are safe as dimensions.
pub mod campaigns {
    use super::super::names::{USERS_ASSIGNED, USERS_SEGMENTED};

    pub fn segmented(campaign: &str, users: u64) {
        metrics::counter!(USERS_SEGMENTED.name, "campaign" => campaign.to_owned()).increment(users);
    }

    /// `variant` is a variant's name or `control`.
    pub fn assigned(campaign: &str, variant: &str, users: u64) {
        metrics::counter!(USERS_ASSIGNED.name, "campaign" => campaign.to_owned(), "variant" => variant.to_owned())
            .increment(users);
    }
}
