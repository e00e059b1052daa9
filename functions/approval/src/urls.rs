//! Every URL the pages and emails link to, from one absolute base.

pub struct Urls {
    pub base: String,
}

impl Urls {
    pub fn status(&self, request_id: &str) -> String {
        format!("{}/requests/{request_id}", self.base)
    }

    /// A link's confirm page (GET) and action (POST).
    pub fn link(&self, request_id: &str, token: &str) -> String {
        format!("{}/requests/{request_id}/links/{token}", self.base)
    }

    /// The Stop button's POST.
    pub fn stop(&self, request_id: &str) -> String {
        format!("{}/requests/{request_id}/stop", self.base)
    }

    /// Scheme, host and port of the base: what a browser sends as `Origin`.
    pub fn origin(&self) -> &str {
        let after_scheme = self.base.find("://").map_or(0, |i| i + 3);
        match self.base[after_scheme..].find('/') {
            Some(i) => &self.base[..after_scheme + i],
            None => &self.base,
        }
    }

    pub fn new_form(&self) -> String {
        format!("{}/requests/new", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::Urls;

    #[test]
    fn the_origin_is_the_base_without_its_path() {
        for (base, origin) in [
            ("https://push.example.com", "https://push.example.com"),
            ("http://127.0.0.1:9108/lambda-url/approval", "http://127.0.0.1:9108"),
        ] {
            assert_eq!(Urls { base: base.into() }.origin(), origin);
        }
    }
}
