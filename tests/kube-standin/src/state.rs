//! Shared server state.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::faults::Faults;
use crate::resources::{Registry, ResourceType};
use crate::store::{ObjKey, Store};

pub struct AppState {
    registry: RwLock<Registry>,
    store: Mutex<Store>,
    pub faults: Faults,
    /// Bumped by `drop_watches()`: every open watch ends when it changes.
    pub watch_epoch: tokio::sync::watch::Sender<u64>,
    pub bookmark_interval: Duration,
    pub addr: SocketAddr,
}

impl AppState {
    pub fn new(
        registry: Registry,
        history_limit: usize,
        bookmark_interval: Duration,
        addr: SocketAddr,
    ) -> Self {
        AppState {
            registry: RwLock::new(registry),
            store: Mutex::new(Store::new(history_limit)),
            faults: Faults::default(),
            watch_epoch: tokio::sync::watch::channel(0).0,
            bookmark_interval,
            addr,
        }
    }

    /// Lock order: store before registry, never the other way round.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The (first served version's) type of a stored object.
    pub fn type_of(&self, key: &ObjKey) -> Option<ResourceType> {
        self.registry()
            .types()
            .iter()
            .find(|t| t.group == key.group && t.plural == key.resource)
            .cloned()
    }
}
