//! The dead-token rule. The seeder applies the same rule to decide which devices it
//! expects to be pruned, so this must stay byte-for-byte identical to the brief:
//! a token is dead if it starts with the dead prefix, or is listed in the dead-tokens
//! file, or `fnv1a64(token) % 10000 < dead_fraction * 10000`.

use std::collections::HashSet;
use std::path::Path;

use crate::error::SandboxError;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit, over the raw bytes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The fraction part of the rule on its own, for callers that only need it.
pub fn dead_by_fraction(token: &str, fraction: f64) -> bool {
    fraction > 0.0 && ((fnv1a64(token.as_bytes()) % 10_000) as f64) < fraction * 10_000.0
}

/// The static part of the rule (prefix and listed tokens); the fraction is a live knob
/// and is passed in on every check.
#[derive(Debug, Default)]
pub struct DeadRule {
    prefix: String,
    listed: HashSet<Box<str>>,
}

impl DeadRule {
    /// An empty prefix disables the prefix part (otherwise every token would be dead).
    pub fn new(prefix: &str, listed: HashSet<Box<str>>) -> Self {
        Self { prefix: prefix.to_owned(), listed }
    }

    pub fn load(prefix: &str, file: Option<&Path>) -> Result<Self, SandboxError> {
        let listed = match file {
            Some(path) => parse_token_list(&std::fs::read_to_string(path).map_err(|source| SandboxError::Io {
                what: "reading --dead-tokens-file",
                path: path.to_path_buf(),
                source,
            })?),
            None => HashSet::new(),
        };
        Ok(Self::new(prefix, listed))
    }

    pub fn listed_count(&self) -> usize {
        self.listed.len()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn is_dead(&self, token: &str, fraction: f64) -> bool {
        (!self.prefix.is_empty() && token.starts_with(self.prefix.as_str()))
            || (!self.listed.is_empty() && self.listed.contains(token))
            || dead_by_fraction(token, fraction)
    }
}

/// One token per line; surrounding whitespace and blank lines are ignored so files
/// written on any platform (CRLF) or with a trailing newline behave the same.
pub fn parse_token_list(text: &str) -> HashSet<Box<str>> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(Box::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn prefix_rule() {
        let rule = DeadRule::new("dead", HashSet::new());
        assert!(rule.is_dead(&format!("dead{}", "0".repeat(60)), 0.0));
        assert!(!rule.is_dead(&"0".repeat(64), 0.0));
        // Exact byte prefix: the seeder writes lowercase.
        assert!(!rule.is_dead(&format!("DEAD{}", "0".repeat(60)), 0.0));
    }

    #[test]
    fn empty_prefix_disables_prefix_rule() {
        let rule = DeadRule::new("", HashSet::new());
        assert!(!rule.is_dead("abc", 0.0));
    }

    #[test]
    fn listed_rule_trims_lines() {
        let listed = parse_token_list("aaaa\r\n\n  bbbb  \n");
        assert_eq!(listed.len(), 2);
        let rule = DeadRule::new("dead", listed);
        assert!(rule.is_dead("aaaa", 0.0));
        assert!(rule.is_dead("bbbb", 0.0));
        assert!(!rule.is_dead("cccc", 0.0));
    }

    #[test]
    fn fraction_rule_is_the_hash_threshold() {
        let rule = DeadRule::new("dead", HashSet::new());
        for i in 0..2000 {
            let token = format!("{i:064x}");
            let expected = (fnv1a64(token.as_bytes()) % 10_000) < 2_500;
            assert_eq!(rule.is_dead(&token, 0.25), expected, "{token}");
        }
        assert!(!rule.is_dead("anything", 0.0));
        assert!(rule.is_dead("anything", 1.0));
    }

    #[test]
    fn fraction_rule_hits_about_the_fraction() {
        let dead = (0..20_000).filter(|i| dead_by_fraction(&format!("{i:064x}"), 0.1)).count();
        assert!((1_600..2_400).contains(&dead), "{dead} of 20000 at 0.1");
    }
}
