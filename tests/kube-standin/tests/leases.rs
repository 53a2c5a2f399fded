//! Leader election with kube-lease-manager (what the operator uses) against the stand-in:
//! Leases through server-side apply and strategic merge patches.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube_lease_manager::LeaseManagerBuilder;
use kube_standin::{Options, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_and_handover_on_release() {
    let server = Server::start(Options::default()).await.unwrap();
    let manager = |identity: &str| {
        LeaseManagerBuilder::new(server.client(), "user-import-operator")
            .with_namespace("default")
            .with_identity(identity)
            .with_duration(5)
            .with_grace(2)
            .build()
    };
    let a = manager("a").await.unwrap();
    let b = manager("b").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), a.changed())
            .await
            .expect("a locks in time")
            .unwrap()
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(2), b.changed())
            .await
            .is_err(),
        "b must not become leader while a holds the lease"
    );
    let leases: Api<Lease> = Api::namespaced(server.client(), "default");
    let held = leases.get("user-import-operator").await.unwrap();
    assert_eq!(held.spec.unwrap().holder_identity.as_deref(), Some("a"));

    a.release().await.unwrap();
    let b_leads = tokio::time::timeout(Duration::from_secs(10), b.changed())
        .await
        .expect("b locks in time")
        .unwrap();
    assert!(b_leads);
    let held = leases.get("user-import-operator").await.unwrap();
    assert_eq!(held.spec.unwrap().holder_identity.as_deref(), Some("b"));
    assert!(server.counters().count("patch", "leases") > 0);
}
