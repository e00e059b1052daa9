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

    pub fn new_form(&self) -> String {
        format!("{}/requests/new", self.base)
    }
}
