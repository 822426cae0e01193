//! The one error type every server function returns.
use serde::{Deserialize, Serialize};
use server_fn_error::*;
use std::collections::BTreeMap;

mod server_fn_error {
    pub use leptos::server_fn::codec::JsonEncoding;
    pub use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
}

/// Field name → message, shown under the field.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please correct the highlighted fields.")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("You don't have permission to do that.")]
    Forbidden,
    /// Refused for a reason the actor can act on (403 with that reason).
    #[error("{0}")]
    Denied(String),
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// The company exists and the user belongs to it, but it is switched off.
    #[error("{0} is disabled. Ask your Atrium operator to enable it again.")]
    TenantDisabled(String),
    /// A super-admin must open a company with a reason before working in it.
    #[error("Open this company as a super-admin first, with a reason.")]
    ActAsRequired,
    #[error("{0}")]
    TooManyRequests(String),
    /// The server is at capacity for this kind of work; try again in a moment (503).
    #[error("{0}")]
    Unavailable(String),
    /// The request id lets an operator find the logged cause; the cause never reaches the client.
    #[error("Something went wrong on our side. Request id: {0}")]
    Internal(String),
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut map = FieldErrors::new();
        map.insert(field.to_string(), message.into());
        AppError::Validation(map)
    }

    pub fn field_error(&self, field: &str) -> Option<String> {
        match self {
            AppError::Validation(map) => map.get(field).cloned(),
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Validation(_) => 422,
            AppError::Unauthenticated(_) => 401,
            AppError::Forbidden | AppError::Denied(_) | AppError::TenantDisabled(_) | AppError::ActAsRequired => 403,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal(_) | AppError::Transport(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::Deserialization(msg) => {
                AppError::field("form", format!("The form could not be read: {msg}"))
            }
            other => AppError::Transport(other.to_string()),
        }
    }
}

/// Collects field errors while parsing a form, so every bad field is reported at once.
#[derive(Default)]
pub struct Fields(FieldErrors);

impl Fields {
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(msg) => {
                self.0.entry(field.to_string()).or_insert(msg);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.0))
        }
    }
}
