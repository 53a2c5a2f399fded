//! The tenant's TenantUsers: one paginated list by label, and server-side applies of the
//! planner's writes with bounded concurrency and retries.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::Retryable;
use futures::{StreamExt, TryStreamExt, future, stream};
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams};
use kube::{Api, Client};

use super::error::Result;
use crate::backoff::Backoff;
use user_import_engine::matching::ExistingUser;
use user_import_engine::planner::UserWrite;
use user_import_resources::{TENANT_LABEL, TenantUser};

/// The field manager of every write this operator makes.
pub const FIELD_MANAGER: &str = "user-import-operator";

/// Page size of the list: large tenants are read in a few requests, never one GET per row.
pub const PAGE_SIZE: u32 = 500;

/// Every TenantUser labelled for `tenant` in `namespace`.
pub(crate) async fn list(
    client: &Client,
    namespace: &str,
    tenant: &str,
) -> Result<Vec<ExistingUser>> {
    let api: Api<TenantUser> = Api::namespaced(client.clone(), namespace);
    let mut params = ListParams::default()
        .labels(&format!("{TENANT_LABEL}={tenant}"))
        .limit(PAGE_SIZE);
    let mut users = Vec::new();
    loop {
        let page = (|| api.list(&params))
            .retry(backoff())
            .when(is_transient)
            .await?;
        users.extend(page.items.into_iter().map(|user| ExistingUser {
            name: user.metadata.name.unwrap_or_default(),
            spec: user.spec,
        }));
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(users),
        }
    }
}

/// Applies `writes` (creates and changes), `concurrency` at a time, while `go_on` says so: it
/// is asked before each write starts. Returns how many were written. Stops at the first write
/// that fails after its retries: the reconcile is retried, and because every write is an
/// idempotent apply of a deterministic name, nothing doubles.
pub(crate) async fn apply_all(
    client: &Client,
    namespace: &str,
    tenant: &str,
    writes: &[UserWrite],
    concurrency: usize,
    go_on: impl Fn() -> bool + Send,
) -> Result<usize> {
    let api: Api<TenantUser> = Api::namespaced(client.clone(), namespace);
    let tenant = tenant.to_string();
    // Owned items: a stream over borrowed ones trips the compiler's `Send` inference.
    stream::iter(writes.to_vec())
        // Polled only when a slot is free, so the question comes right before each write.
        .take_while(move |_| future::ready(go_on()))
        .map(move |write| apply_one(api.clone(), tenant.clone(), write))
        .buffer_unordered(concurrency.max(1))
        .try_fold(0, |written, ()| async move { Ok(written + 1) })
        .await
}

async fn apply_one(api: Api<TenantUser>, tenant: String, write: UserWrite) -> Result<()> {
    let patch = Patch::Apply(desired(&tenant, &write));
    let params = PatchParams::apply(FIELD_MANAGER).force();
    (|| api.patch(&write.name, &params, &patch))
        .retry(backoff())
        .when(is_transient)
        .notify(|error, after| {
            tracing::info!(row = write.row, %error, ?after, "retrying a TenantUser write");
        })
        .await?;
    tracing::info!(row = write.row, create = write.create, "TenantUser applied");
    Ok(())
}

/// The whole object as this operator wants it: the label, and the planner's full spec.
fn desired(tenant: &str, write: &UserWrite) -> TenantUser {
    let mut user = TenantUser::new(&write.name, write.spec.clone());
    user.metadata = ObjectMeta {
        name: Some(write.name.clone()),
        labels: Some(BTreeMap::from([(
            TENANT_LABEL.to_string(),
            tenant.to_string(),
        )])),
        ..Default::default()
    };
    user
}

/// Retries of one request: a few quick attempts with jittered exponential back-off.
fn backoff() -> backon::ExponentialBuilder {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(3)).retries(5)
}

/// 409 (a conflict), 429, 5xx and transport failures are worth retrying; 4xx otherwise are not.
pub(crate) fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 409 || status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}
