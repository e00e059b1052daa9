//! Sending email: one port, an SES v2 adapter and an in-memory recorder.

use std::future::Future;
use std::sync::Mutex;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

/// One message, with an HTML part and a plain-text part for clients (and
/// screen readers) that do not render HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the message is incomplete: {0}")]
    Build(String),
    /// The source's own text is part of the message: the in-memory sender
    /// fails with a plain message, and the SDK's top-level text is short.
    #[error("SES SendEmail to {to}: {source}")]
    Ses {
        to: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub trait SendMail: Send + Sync {
    /// Sends one message; returns the provider's message id.
    fn send(&self, mail: &Mail) -> impl Future<Output = Result<String, MailError>> + Send;
}

/// SES v2 `SendEmail` with simple content.
pub struct SesMail {
    client: aws_sdk_sesv2::Client,
}

impl SesMail {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }

    /// From the shared SDK configuration (`AWS_ENDPOINT_URL_SESV2` picks
    /// the local emulator), built by `crate::aws` like every client.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(crate::aws::ses(config))
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder().data(data).charset("UTF-8").build().map_err(|e| MailError::Build(e.to_string()))
}

impl SendMail for SesMail {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(utf8(&mail.subject)?)
            .body(Body::builder().html(utf8(&mail.html)?).text(utf8(&mail.text)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&mail.from)
            .destination(Destination::builder().set_to_addresses(Some(mail.to.clone())).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| MailError::Ses { to: mail.to.join(", "), source: Box::new(e) })?;
        // SES always names the message; an answer without an id is still a
        // message sent, so it is not an error, but it is visibly unnamed.
        Ok(out.message_id().unwrap_or("(no message id)").to_owned())
    }
}

/// Keeps every message, for tests.
#[derive(Default)]
pub struct MemoryMail {
    sent: Mutex<Vec<Mail>>,
    /// When set, every send fails with this message.
    pub fail_with: Mutex<Option<String>>,
}

impl MemoryMail {
    pub fn sent(&self) -> Vec<Mail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Messages to one address, oldest first.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.sent().into_iter().filter(|m| m.to.iter().any(|t| t == address)).collect()
    }
}

impl SendMail for MemoryMail {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        if let Some(message) = self.fail_with.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(MailError::Ses { to: mail.to.join(", "), source: message.into() });
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.push(mail.clone());
        Ok(format!("memory-{}", sent.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_mail_records_and_fails_on_demand() {
        let mail = MemoryMail::default();
        let m = Mail {
            from: "a@x".into(),
            to: vec!["b@x".into()],
            subject: "s".into(),
            html: "<p>h</p>".into(),
            text: "h".into(),
        };
        assert_eq!(mail.send(&m).await.unwrap(), "memory-1");
        assert_eq!(mail.to("b@x"), vec![m.clone()]);
        *mail.fail_with.lock().unwrap() = Some("down".into());
        assert!(mail.send(&m).await.unwrap_err().to_string().contains("down"));
    }
}
