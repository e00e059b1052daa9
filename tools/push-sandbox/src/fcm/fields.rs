//! Checks on single fields of an FCM v1 Message, each after the field's text in the
//! `projects.messages` reference.

/// Why a message is INVALID_ARGUMENT; the text goes into the error's `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

pub fn invalid(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

/// Message.data: "The key should not be a reserved word ("from", "message_type", or
/// any word starting with "google." or "gcm.")". Older pages also list
/// "notification", but FCM accepts it as a data key (firebase-php#588, where the SDK's
/// maintainer checked against FCM), so it is not refused here. The message is the one FCM answers with.
pub fn check_data_keys<'a>(mut keys: impl Iterator<Item = &'a str>) -> Result<(), Invalid> {
    match keys.find(|k| is_reserved_data_key(k)) {
        Some(k) => Err(invalid(format!("Invalid data payload key: {k}"))),
        None => Ok(()),
    }
}

pub fn is_reserved_data_key(key: &str) -> bool {
    matches!(key, "from" | "message_type") || key.starts_with("google.") || key.starts_with("gcm.")
}

/// Notification.image: "Contains the URL of an image that is going to be downloaded
/// on the device": an absolute http(s) URL, as the device fetches it.
pub fn check_image(image: &str) -> Result<(), Invalid> {
    match url::Url::parse(image) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.has_host() => Ok(()),
        _ => Err(invalid(format!("Invalid value at 'message.notification.image' ({image}): not an http(s) URL"))),
    }
}

/// FcmOptions.analytics_label: "Format: ^[a-zA-Z0-9-_.~%]{1,50}$".
pub fn check_analytics_label(label: &str) -> Result<(), Invalid> {
    let ok = (1..=50).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid value at 'message.fcm_options.analytics_label' ({label}): must match ^[a-zA-Z0-9-_.~%]{{1,50}}$"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_data_keys() {
        for k in ["from", "message_type", "google.c.a.e", "google.", "gcm.n.e", "gcm.notification.title"] {
            assert!(is_reserved_data_key(k), "{k}");
        }
        for k in ["notification", "From", "google", "gcm", "fromage", "my.google.key", "message_types", "deeplink"] {
            assert!(!is_reserved_data_key(k), "{k}");
        }
        let err = check_data_keys(["deeplink", "gcm.x"].into_iter()).expect_err("reserved");
        assert_eq!(err.0, "Invalid data payload key: gcm.x");
        assert_eq!(check_data_keys(["a", "b"].into_iter()), Ok(()));
    }

    #[test]
    fn image_must_be_a_url() {
        assert_eq!(check_image("https://cdn.example.com/a.png"), Ok(()));
        assert_eq!(check_image("http://127.0.0.1:8080/a.png"), Ok(()));
        for bad in ["a.png", "", "ftp://x/a.png", "data:image/png;base64,AAAA", "https://"] {
            assert!(check_image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn analytics_label_pattern() {
        for ok in ["campaign_2026-11", "a", "x.y~z%20", &"a".repeat(50)] {
            assert_eq!(check_analytics_label(ok), Ok(()), "{ok}");
        }
        for bad in ["", "has space", "slash/no", "ünï", &"a".repeat(51)] {
            assert!(check_analytics_label(bad).is_err(), "{bad}");
        }
    }
}
