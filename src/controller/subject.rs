//! The import being reconciled: one UserImport, its identity, the writer of its status, and
//! whether this reconcile started an import of it. The reconcile, the report delivery and the
//! panic and failure reports all work on it.

use std::sync::atomic::AtomicBool;

use k8s_openapi::jiff::Timestamp;
use kube::{Api, Client};

use super::context::ImportKey;
use super::status::{self, Basis};
use super::template_source::TemplateBytes;
use user_import_resources::UserImport;

/// The UserImport being reconciled, with the APIs scoped to its namespace.
pub(crate) struct Subject<'a> {
    pub(crate) import: &'a UserImport,
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) uid: String,
    /// Every status write of the reconcile goes through it.
    pub(crate) status: status::Writer,
    /// Set once this reconcile starts an import (rather than checking a finished one).
    pub(crate) importing: AtomicBool,
}

impl<'a> Subject<'a> {
    /// The subject, or the metadata field it lacks.
    pub(crate) fn of(import: &'a UserImport, client: &Client) -> Result<Self, &'static str> {
        let namespace = import.metadata.namespace.clone().ok_or("namespace")?;
        let name = import.metadata.name.clone().unwrap_or_default();
        Ok(Subject {
            import,
            uid: import.metadata.uid.clone().ok_or("uid")?,
            status: status::Writer::new(Api::namespaced(client.clone(), &namespace), import),
            name,
            namespace,
            importing: AtomicBool::new(false),
        })
    }

    /// What a status builder needs: the status the reconcile started from, the generation,
    /// the time.
    pub(crate) fn basis(&self) -> Basis<'a> {
        Basis {
            previous: self.import.status.as_ref(),
            generation: self.import.metadata.generation,
            now: Timestamp::now(),
        }
    }

    /// The key of an import of `bytes` at the current generation.
    pub(crate) fn key(&self, bytes: &TemplateBytes) -> ImportKey {
        (self.import.metadata.generation, bytes.digest.clone())
    }
}
