//! One renderer per language of `notification.localized`, and the choice
//! of one for a user by their locale: `pt-BR`, then `pt`, then the file's
//! default texts. Each language's renderer is built (and so checked against
//! every provider's size limit) before anything is sent.

use std::collections::HashMap;

use super::{RenderError, Renderer};
use crate::batch::Header;

pub struct Renderers {
    default: Renderer,
    /// By canonical tag (`crate::locale::canonical`).
    by_language: HashMap<String, Renderer>,
}

/// A language's notification that cannot be rendered, named.
#[derive(Debug, thiserror::Error)]
#[error("in `notification.localized.{language}`: {source}")]
pub struct LanguageError {
    pub language: String,
    #[source]
    pub source: RenderError,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderersError {
    #[error(transparent)]
    Default(#[from] RenderError),
    #[error(transparent)]
    Language(#[from] LanguageError),
}

impl Renderers {
    pub fn new(header: &Header, default_topic: &str) -> Result<Self, RenderersError> {
        let default = Renderer::new(header, default_topic)?;
        let mut by_language = HashMap::new();
        for tag in header.notification.localized.keys() {
            let mut h = header.clone();
            h.notification = header.notification.in_language(tag);
            let renderer =
                Renderer::new(&h, default_topic).map_err(|source| LanguageError { language: tag.clone(), source })?;
            // The header's check refused tags that are not BCP 47.
            let canonical = crate::locale::canonical(tag).unwrap_or_else(|| tag.clone());
            by_language.insert(canonical, renderer);
        }
        Ok(Self { default, by_language })
    }

    /// The file's own texts: what a user without a matching locale gets.
    pub fn default(&self) -> &Renderer {
        &self.default
    }

    /// The renderer for a user of `locale` (as the devices table holds it).
    pub fn for_locale(&self, locale: Option<&str>) -> &Renderer {
        if self.by_language.is_empty() {
            return &self.default;
        }
        locale
            .map(crate::locale::fallbacks)
            .unwrap_or_default()
            .iter()
            .find_map(|tag| self.by_language.get(tag))
            .unwrap_or(&self.default)
    }

    /// The languages the file has, canonical tags, sorted.
    pub fn languages(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.by_language.keys().map(String::as_str).collect();
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn header(localized: serde_json::Value) -> Header {
        serde_json::from_value(json!({"campaign": "c",
            "notification": {"title": "Hello", "body": "Default", "localized": localized}}))
        .unwrap()
    }

    fn title(r: &Renderer) -> String {
        let payload: serde_json::Value = serde_json::from_slice(&r.for_user(&Map::new()).unwrap().apns).unwrap();
        payload["aps"]["alert"]["title"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_user_gets_their_language_then_its_parent_then_the_default() {
        let h = header(json!({"pt": {"title": "Olá"}, "pt-BR": {"title": "Oi"}, "fr": {"title": "Bonjour"}}));
        let r = Renderers::new(&h, "com.example").unwrap();
        assert_eq!(title(r.for_locale(Some("pt-BR"))), "Oi");
        assert_eq!(title(r.for_locale(Some("pt-br"))), "Oi", "any case");
        assert_eq!(title(r.for_locale(Some("pt-PT"))), "Olá", "pt-PT → pt");
        assert_eq!(title(r.for_locale(Some("fr-CA"))), "Bonjour");
        assert_eq!(title(r.for_locale(Some("de-DE"))), "Hello", "no German: the default");
        assert_eq!(title(r.for_locale(None)), "Hello");
        assert_eq!(r.languages(), ["fr", "pt", "pt-BR"]);
    }

    #[test]
    fn every_language_must_fit_before_anything_is_sent() {
        let long = "x".repeat(5000);
        let h = header(json!({"fr": {"body": long}}));
        let e = Renderers::new(&h, "com.example").err().unwrap();
        assert!(e.to_string().starts_with("in `notification.localized.fr`: the notification renders to"), "{e}");
    }
}
