//! AWS credentials as the signer needs them, never shown in `Debug` output.

use std::fmt;

/// An access key, its secret and an optional session token.
///
/// `Debug` shows the access key id only; the secret and the token are redacted. An empty session
/// token counts as none, so an exported-but-empty `AWS_SESSION_TOKEN` is never sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Credentials {
    /// Creates credentials; a session token that is empty or only whitespace is dropped.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: session_token.filter(|token| !token.trim().is_empty()),
        }
    }

    /// Returns the access key id, which is not secret.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Returns the secret access key.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// Returns the session token of temporary credentials, if any.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let creds = Credentials::new("AKIDEXAMPLE", "s3cr3t-value", Some("t0ken-value".into()));
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKIDEXAMPLE"));
        assert!(
            !shown.contains("s3cr3t-value") && !shown.contains("t0ken-value"),
            "{shown}"
        );
    }

    #[test]
    fn empty_session_token_is_none() {
        assert_eq!(
            Credentials::new("a", "b", Some(String::new())).session_token(),
            None
        );
        assert_eq!(
            Credentials::new("a", "b", Some("  ".into())).session_token(),
            None
        );
        assert_eq!(Credentials::new("a", "b", None).session_token(), None);
        assert_eq!(
            Credentials::new("a", "b", Some("t".into())).session_token(),
            Some("t")
        );
    }
}
