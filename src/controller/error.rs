//! The controller's errors. A reconcile that returns one of these is retried with back-off;
//! conditions the user must fix (a missing Tenant, a rejected template) are not errors: they
//! are written to the status as `Stalled` and the reconcile succeeds.

use thiserror::Error;

/// Why a reconcile failed; the error policy retries it with back-off.
#[derive(Debug, Error)]
pub enum Error {
    /// A call to the API server failed (after the retries, where they apply).
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The UserImport lacks a field the API server always sets (namespace, uid).
    #[error("the UserImport has no {0}")]
    MissingMetadata(&'static str),
    /// Serialising a status or a TenantUser failed (a bug, never the user's input).
    #[error("serialisation: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Downloading the template (a URL, a Flux artifact) failed: unreachable, an HTTP error, a
    /// broken connection. Retried with back-off like an API error.
    #[error("{0}")]
    Fetch(String),
    /// The tenant's users hold more text than the operator keeps (4 GiB).
    #[error("the tenant's TenantUsers: {0}")]
    TooManyUsers(#[from] user_import_engine::users::TextsFull),
}

impl Error {
    /// A short label for metrics and event reasons.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApi",
            Error::MissingMetadata(_) => "MissingMetadata",
            Error::Serialize(_) => "Serialize",
            Error::Fetch(_) => "TemplateFetch",
            Error::TooManyUsers(_) => "TooManyUsers",
        }
    }

    /// The reason of the `Reconciling=True` condition while the error is retried.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Error::Fetch(_) => super::conditions::TEMPLATE_FETCH_FAILED,
            _ => super::conditions::RETRYING_AFTER_ERROR,
        }
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
