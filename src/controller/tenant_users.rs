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
use user_import_engine::planner::UserWrite;
use user_import_engine::users::CompactUsers;
use user_import_resources::{TENANT_LABEL, TenantUser};

/// The field manager of every write this operator makes.
pub const FIELD_MANAGER: &str = "user-import-operator";

/// Page size of the list: large tenants are read in a few requests, never one GET per row.
pub const PAGE_SIZE: u32 = 500;

/// Every TenantUser labelled for `tenant` in `namespace`, in the engine's compact form: each
/// page's objects are copied into it (their texts into one buffer) and dropped before the next
/// page is asked for, so that a tenant of 200,000 users is never held as objects.
pub(crate) async fn list(client: &Client, namespace: &str, tenant: &str) -> Result<CompactUsers> {
    let api: Api<TenantUser> = Api::namespaced(client.clone(), namespace);
    let mut params = ListParams::default()
        .labels(&format!("{TENANT_LABEL}={tenant}"))
        .limit(PAGE_SIZE);
    let mut users = CompactUsers::default();
    loop {
        let page = (|| api.list(&params))
            .retry(backoff())
            .when(is_transient)
            .await?;
        for user in &page.items {
            let name = user.metadata.name.as_deref().unwrap_or_default();
            users.push_existing(name, &user.spec)?;
        }
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => {
                users.shrink_to_fit();
                return Ok(users);
            }
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
    // Each write's object is made from the plan when its turn comes: the writes are never
    // copied whole (200,000 specs at the largest template). Over positions, because a closure
    // that takes a borrowed write trips the compiler's `Send` inference.
    let requests = (0..writes.len()).map(move |at| {
        let write = &writes[at];
        Request {
            row: write.row,
            create: write.create,
            user: desired(tenant, write),
        }
    });
    stream::iter(requests)
        // Polled only when a slot is free, so the question comes right before each write.
        .take_while(move |_| future::ready(go_on()))
        .map(move |request| apply_one(api.clone(), request))
        .buffer_unordered(concurrency.max(1))
        .try_fold(0, |written, ()| async move { Ok(written + 1) })
        .await
}

/// One write: the object to apply, and the row that asks for it.
struct Request {
    row: usize,
    create: bool,
    user: TenantUser,
}

async fn apply_one(api: Api<TenantUser>, request: Request) -> Result<()> {
    let Request { row, create, user } = request;
    let name = user.metadata.name.clone().unwrap_or_default();
    let patch = Patch::Apply(user);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    (|| api.patch(&name, &params, &patch))
        .retry(backoff())
        .when(is_transient)
        .notify(|error, after| {
            tracing::info!(row, %error, ?after, "retrying a TenantUser write");
        })
        .await?;
    tracing::info!(row, create, "TenantUser applied");
    Ok(())
}

/// The whole object as this operator wants it: the label, and the planner's full spec.
fn desired(tenant: &str, write: &UserWrite) -> TenantUser {
    let mut user = TenantUser::new(&write.name, write.spec());
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
