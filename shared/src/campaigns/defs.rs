//! The campaigns themselves. To add a variant, add a `Variant` and take its
//! weight from the others; to add a campaign, add a `checked(Campaign {..})`
//! to `ALL` and a schedule for it in template.yaml. Weights that do not sum
//! to 100 stop the build here.

use super::{Audience, Campaign, Variant, checked};

/// Day 1: signed up yesterday and has not finished.
pub const DAY1_SIGNUP: Campaign = checked(Campaign {
    id: "day1-signup",
    description: "Signed up yesterday without finishing: ask them to complete their profile.",
    schedule: "cron(0 10 * * ? *)",
    audience: Audience::SignedUp { days: 1, completed: Some(false) },
    category: "onboarding",
    control_weight: 10,
    variants: &[
        Variant {
            name: "a",
            weight: 45,
            title: "Almost there",
            body: "{{name}}, finish your sign-up in one minute",
            deeplink: "app://signup/resume",
        },
        Variant {
            name: "b",
            weight: 45,
            title: "Your profile is waiting",
            body: "Add a photo and a bio so friends can find you",
            deeplink: "app://signup/resume",
        },
    ],
});

/// Day 2: signed up two days ago and finished: get them connected.
pub const DAY2_ENGAGEMENT: Campaign = checked(Campaign {
    id: "day2-engagement",
    description: "Completed sign-up two days ago: suggest people to follow or friends to invite.",
    schedule: "cron(0 17 * * ? *)",
    audience: Audience::SignedUp { days: 2, completed: Some(true) },
    category: "engagement",
    control_weight: 20,
    variants: &[
        Variant {
            name: "follow",
            weight: 40,
            title: "People you may know",
            body: "{{name}}, follow a few people to fill your feed",
            deeplink: "app://discover/people",
        },
        Variant {
            name: "invite",
            weight: 40,
            title: "Better with friends",
            body: "Invite your friends and see what they are up to",
            deeplink: "app://invite",
        },
    ],
});

/// Day 21: inactive for three weeks.
pub const DAY21_INACTIVE: Campaign = checked(Campaign {
    id: "day21-inactive",
    description: "Last active 21 days ago: show them what they missed.",
    schedule: "cron(0 18 * * ? *)",
    audience: Audience::LastActive { days: 21 },
    category: "re-engagement",
    control_weight: 10,
    variants: &[
        Variant {
            name: "a",
            weight: 30,
            title: "We miss you",
            body: "See what's new, {{name}}",
            deeplink: "app://home",
        },
        Variant {
            name: "b",
            weight: 30,
            title: "Your friends have been busy",
            body: "Catch up on three weeks of posts",
            deeplink: "app://feed",
        },
        Variant {
            name: "c",
            weight: 30,
            title: "Something new for you",
            body: "We picked a few posts you'll like",
            deeplink: "app://feed/picks",
        },
    ],
});

/// Every campaign; scheduled and ab-split look campaigns up here.
pub const ALL: &[Campaign] = &[DAY1_SIGNUP, DAY2_ENGAGEMENT, DAY21_INACTIVE];
