//! Language tags (BCP 47): their shape, their conventional case, and the
//! fallback from a user's locale to the texts a file has (`pt-BR` → `pt` →
//! the file's default). The devices API stores users' locales in this form
//! and send-batch matches `notification.localized` against it.

/// Longest locale tag accepted (BCP 47 sets no limit; real tags are short).
pub const MAX_LOCALE_CHARS: usize = 64;

/// A BCP 47 tag's shape (RFC 5646's `langtag`: language, extended
/// languages, script, region, variants, extensions, private use), in its
/// conventional case (`pt-BR`, `zh-Hant-TW`); `None` when it has not that shape.
pub fn canonical(tag: &str) -> Option<String> {
    if tag.is_empty() || tag.len() > MAX_LOCALE_CHARS {
        return None;
    }
    let subtags: Vec<&str> = tag.split('-').collect();
    if subtags.iter().any(|s| s.is_empty() || s.len() > 8 || !s.chars().all(|c| c.is_ascii_alphanumeric())) {
        return None;
    }
    let alpha = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic())
    };
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    let (language, rest) = subtags.split_first()?;
    if !alpha(language, 2..=3) && !alpha(language, 5..=8) {
        return None;
    }
    let mut out = vec![language.to_ascii_lowercase()];
    let mut i = 0;
    // Stage: 0 extlang, 1 script, 2 region, 3 variants, 4 extensions.
    let mut stage = if language.len() <= 3 { 0 } else { 1 };
    let mut extlangs = 0;
    while i < rest.len() {
        let s = rest[i];
        if stage == 0 && alpha(s, 3..=3) && extlangs < 3 {
            extlangs += 1;
            out.push(s.to_ascii_lowercase());
        } else if stage <= 1 && alpha(s, 4..=4) {
            stage = 2;
            out.push(format!("{}{}", s[..1].to_ascii_uppercase(), s[1..].to_ascii_lowercase()));
        } else if stage <= 2 && (alpha(s, 2..=2) || digits(s, 3)) {
            stage = 3;
            out.push(s.to_ascii_uppercase());
        } else if stage <= 3 && (s.len() >= 5 || (s.len() == 4 && s.as_bytes()[0].is_ascii_digit())) {
            stage = 3;
            out.push(s.to_ascii_lowercase());
        } else if s.len() == 1 {
            // An extension (a singleton and its subtags) or, after `x`,
            // private use to the end.
            let min = if s.eq_ignore_ascii_case("x") { 1 } else { 2 };
            let start = i;
            i += 1;
            while i < rest.len() && rest[i].len() >= min {
                i += 1;
            }
            if i == start + 1 {
                return None;
            }
            out.extend(rest[start..i].iter().map(|s| s.to_ascii_lowercase()));
            stage = 4;
            continue;
        } else {
            return None;
        }
        i += 1;
    }
    Some(out.join("-"))
}

/// The tags to try for `locale`, most specific first: `zh-Hant-TW`,
/// `zh-Hant`, `zh`. Extensions and private use (`-u-…`, `-x-…`) are dropped
/// first: they never name a translation.
pub fn fallbacks(locale: &str) -> Vec<String> {
    let Some(tag) = canonical(locale) else { return Vec::new() };
    let subtags: Vec<&str> = tag.split('-').take_while(|s| s.len() > 1).collect();
    (1..=subtags.len()).rev().map(|n| subtags[..n].join("-")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_checked_for_shape_and_cased_conventionally() {
        for (tag, expected) in [
            ("pt-BR", "pt-BR"),
            ("pt-br", "pt-BR"),
            ("en", "en"),
            ("zh-Hant-TW", "zh-Hant-TW"),
            ("ZH-HANT-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("sl-rozaj-biske", "sl-rozaj-biske"),
            ("de-CH-1901", "de-CH-1901"),
            ("zh-yue-HK", "zh-yue-HK"),
            ("en-US-u-ca-gregory", "en-US-u-ca-gregory"),
            ("en-x-twain", "en-x-twain"),
        ] {
            assert_eq!(canonical(tag).as_deref(), Some(expected), "{tag}");
        }
        for bad in [
            "",
            "pt_BR",
            "p",
            "portuguese-brazil-x",
            "en--US",
            "en-US-",
            "-en",
            "e1",
            "en-US-u",
            "en-x",
            "pt-BR!",
            "en-a-bb-x",
            "en-US-US",
            "toolongtag",
        ] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    #[test]
    fn fallbacks_go_from_the_most_specific_to_the_language() {
        assert_eq!(fallbacks("pt-BR"), ["pt-BR", "pt"]);
        assert_eq!(fallbacks("zh-hant-tw"), ["zh-Hant-TW", "zh-Hant", "zh"]);
        assert_eq!(fallbacks("en-US-u-ca-gregory"), ["en-US", "en"]);
        assert_eq!(fallbacks("fr"), ["fr"]);
        assert!(fallbacks("not a tag").is_empty());
    }
}
