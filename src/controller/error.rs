//! The controller's errors. A reconcile that returns one of these is retried with back-off;
//! conditions the user must fix (a missing Tenant, a rejected template) are not errors: they
//! are written to the status as `Stalled` and the reconcile succeeds.

use thiserror::Error;

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
}

impl Error {
    /// A short label for metrics and event reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "KubeApi",
            Error::MissingMetadata(_) => "MissingMetadata",
            Error::Serialize(_) => "Serialize",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
