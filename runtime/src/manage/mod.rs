//! Deployments as a platform one deploys to remotely: uploads become stored versions
//! ([`crate::store`]), started by the loader into the registry, and come back after a
//! restart in their last desired state.
//!
//! Lifecycle (Hopsworks' states): an upload validates the definition and the files, stores
//! the blobs, starts the new version from its own folder (`Starting`, or `Updating` when a
//! version is serving) and only then records it: a version that cannot start is refused and
//! never becomes current. The swap replaces the registry entry; requests in flight finish
//! on the version they started on. `stop` (`Stopping` → `Stopped`) drops it from the
//! registry; `start` brings it back from the store.
//!
//! Mutations are serialized by one lock, so concurrent updates of a deployment apply one
//! after the other, each complete.

pub mod upload;

use crate::capacity::Reservation;
use crate::deployment::config::DeploymentConfig;
use crate::deployment::loader::{DeployError, Loader};
use crate::deployment::log::LogComponent;
use crate::deployment::registry::Registry;
use crate::deployment::{DEFINITION_FILE, Deployment};
use crate::store::{Desired, Record, Store, StoreError};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// Why a management request failed; each kind has one HTTP status (see `http::manage`).
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The upload or request is malformed (400).
    #[error("{0}")]
    Invalid(String),
    /// The upload is fine but the version cannot start (422): nothing was recorded.
    #[error("{0}")]
    CannotStart(String),
    #[error("deployment {0:?} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store, the loader and the registry, driven together.
pub struct Manager {
    store: Store,
    loader: Arc<Loader>,
    registry: Arc<Registry>,
    /// Held by every mutation.
    lock: tokio::sync::Mutex<()>,
    /// States of operations in progress (`Starting`, `Updating`, `Stopping`), by name.
    transitions: Mutex<HashMap<String, &'static str>>,
}

impl Manager {
    pub fn new(store: Store, loader: Arc<Loader>, registry: Arc<Registry>) -> Manager {
        Manager {
            store,
            loader,
            registry,
            lock: tokio::sync::Mutex::new(()),
            transitions: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Starts every stored deployment whose desired state is Running (at server start),
    /// except those named in `except` (about to be deployed from folders). One that fails is
    /// Failed with its reason; the others are unaffected.
    pub async fn restore(&self, except: &[String]) -> Result<usize, ManageError> {
        let _guard = self.lock.lock().await;
        let mut started = 0;
        for record in self.store.records()? {
            if record.desired == Desired::Running && !except.contains(&record.name) {
                match self.start_current(&record).await {
                    Ok(_) => started += 1,
                    // Its definition no longer reads (a newer server's rules): the others
                    // still start; this one waits for a new upload.
                    Err(e) => tracing::error!(deployment = %record.name, "not restored: {e}"),
                }
            }
        }
        Ok(started)
    }

    async fn start_current(&self, record: &Record) -> Result<Arc<Deployment>, ManageError> {
        let dir = self
            .store
            .materialize(&record.name, record.current_version())?;
        let deployment = self.loader.start(&dir).await.map_err(|e| match e {
            DeployError::Definition { message, .. } => ManageError::CannotStart(message),
            other => ManageError::CannotStart(other.to_string()),
        })?;
        self.registry.insert(deployment);
        Ok(self.registry.get(&record.name).expect("just inserted"))
    }

    /// `predictor serve --deploy DIR`: the folder's files become the deployment's current
    /// version (a new one when they changed), started even if it fails (then Failed, with
    /// its reason), as the operator asked for this folder. `definition` is what it is served
    /// with (its `deployment.json`, renamed or inferred: `deployment::folder`), stored as the
    /// version's `deployment.json`.
    pub async fn deploy_folder(
        &self,
        dir: &Path,
        definition: &str,
    ) -> Result<Arc<Deployment>, ManageError> {
        let _guard = self.lock.lock().await;
        let config = DeploymentConfig::parse(definition)
            .map_err(|e| ManageError::Invalid(e.0))
            .and_then(|c| {
                c.validate().map_err(|e| ManageError::Invalid(e.0))?;
                Ok(c)
            })?;
        let mut files = crate::store::files::import_dir(&self.store, dir)?;
        files.insert(
            DEFINITION_FILE.to_string(),
            self.store.put_blob(definition.as_bytes())?,
        );
        let (record, _) = self.store.add_version(&config.name, files)?;
        self.start_current(&record).await
    }

    /// Stores and starts an uploaded version (see [`upload::Upload`]); returns its
    /// description. A version that fails to start is refused and not recorded.
    pub async fn deploy(&self, upload: upload::Upload) -> Result<Value, ManageError> {
        let _guard = self.lock.lock().await;
        let name = upload.config.name.clone();
        let files = self.numbered_files(&name, &upload)?;
        let serving = self.registry.get(&name).is_some();
        self.transition(&name, if serving { "Updating" } else { "Starting" });
        let result = self.start_files(&name, files).await;
        self.transitions.lock().remove(&name);
        result?;
        self.describe_unlocked(&name)
    }

    /// The upload's files stored, its definition numbered by the platform: the current
    /// version's number when nothing else changed (no new version), else the next one.
    fn numbered_files(
        &self,
        name: &str,
        upload: &upload::Upload,
    ) -> Result<BTreeMap<String, String>, ManageError> {
        let store = |n: u32| -> Result<BTreeMap<String, String>, StoreError> {
            upload
                .numbered(n)
                .iter()
                .map(|(path, bytes)| Ok((path.clone(), self.store.put_blob(bytes)?)))
                .collect()
        };
        if let Some(current) = self.store.current(name)? {
            let same = store(current)?;
            if self.store.version_for(name, &same)? == current {
                return Ok(same);
            }
        }
        let next = store(0).and_then(|f| self.store.version_for(name, &f))?;
        Ok(store(next)?)
    }

    async fn start_files(
        &self,
        name: &str,
        files: BTreeMap<String, String>,
    ) -> Result<(), ManageError> {
        // Started from a staging folder first: only a version that starts is recorded.
        let staging = crate::store::Version {
            version: self.store.version_for(name, &files)?,
            created_ms: 0,
            files: files.clone(),
        };
        let dir = self.store.materialize_staging(name, &staging)?;
        let deployment = self.loader.start(&dir).await.map_err(|e| match e {
            DeployError::Definition { message, .. } => ManageError::Invalid(message),
            other => ManageError::CannotStart(other.to_string()),
        });
        let deployment = match deployment {
            Ok(d) => d,
            Err(e) => {
                self.store.discard_staging(&dir);
                return Err(e);
            }
        };
        if let Err(reason) = deployment.predictor() {
            let reason = reason.to_string();
            self.store.discard_staging(&dir);
            // Its start took over the name's capacity reservation: give it back to the
            // version still serving, if any.
            match self.registry.get(name) {
                Some(old) => {
                    let _ = self
                        .loader
                        .capacity()
                        .reserve(name, Reservation::of(&old.config));
                }
                None => self.loader.capacity().release(name),
            }
            return Err(ManageError::CannotStart(format!(
                "the new version of {name:?} failed to start: {reason}"
            )));
        }
        self.store.add_version(name, files)?;
        self.registry.insert(deployment);
        Ok(())
    }

    /// Starts a stopped deployment (its current version).
    pub async fn start(&self, name: &str) -> Result<Value, ManageError> {
        let _guard = self.lock.lock().await;
        let record = self.record(name)?;
        let record = self
            .store
            .set(name, Desired::Running, Some(record.current))?;
        if self.registry.get(name).is_none() {
            self.transition(name, "Starting");
            let started = self.start_current(&record).await;
            self.transitions.lock().remove(name);
            started?;
        }
        self.describe_unlocked(name)
    }

    /// Stops a deployment: it stops answering (404 on its endpoints) and frees its capacity;
    /// its versions stay stored.
    pub async fn stop(&self, name: &str) -> Result<Value, ManageError> {
        let _guard = self.lock.lock().await;
        self.record(name)?;
        self.store.set(name, Desired::Stopped, None)?;
        self.unload(name);
        self.describe_unlocked(name)
    }

    /// Stops then starts the current version (the restarted one starts fresh).
    pub async fn restart(&self, name: &str) -> Result<Value, ManageError> {
        let _guard = self.lock.lock().await;
        let record = self
            .store
            .set(name, Desired::Running, None)
            .map_err(not_found(name))?;
        self.unload(name);
        self.start_current(&record).await?;
        self.describe_unlocked(name)
    }

    /// Serves an earlier version again.
    pub async fn rollback(&self, name: &str, version: u32) -> Result<Value, ManageError> {
        let _guard = self.lock.lock().await;
        let record = self
            .store
            .set(name, Desired::Running, Some(version))
            .map_err(not_found(name))?;
        self.transition(name, "Updating");
        let started = self.start_current(&record).await;
        self.transitions.lock().remove(name);
        started?;
        self.describe_unlocked(name)
    }

    /// Forgets a deployment; requests in flight on it finish.
    pub async fn delete(&self, name: &str) -> Result<(), ManageError> {
        let _guard = self.lock.lock().await;
        self.store.delete(name).map_err(not_found(name))?;
        self.unload(name);
        Ok(())
    }

    fn unload(&self, name: &str) {
        self.transition(name, "Stopping");
        if self.registry.remove(name).is_some() {
            self.loader.capacity().release(name);
            self.loader.metrics().forget(name);
        }
        self.transitions.lock().remove(name);
    }

    fn transition(&self, name: &str, state: &'static str) {
        self.transitions.lock().insert(name.to_string(), state);
    }

    fn record(&self, name: &str) -> Result<Record, ManageError> {
        self.store
            .get(name)?
            .ok_or_else(|| ManageError::NotFound(name.to_string()))
    }

    /// Every stored deployment, described.
    pub fn list(&self) -> Result<Vec<Value>, ManageError> {
        self.store
            .records()?
            .iter()
            .map(|r| Ok(self.describe_record(r)))
            .collect()
    }

    pub fn describe(&self, name: &str) -> Result<Value, ManageError> {
        self.describe_unlocked(name)
    }

    fn describe_unlocked(&self, name: &str) -> Result<Value, ManageError> {
        Ok(self.describe_record(&self.record(name)?))
    }

    /// Definition, state (with the reason when Failed), versions, instance counts.
    fn describe_record(&self, record: &Record) -> Value {
        let deployment = self.registry.get(&record.name);
        let transition = self.transitions.lock().get(&record.name).copied();
        let state = match (&deployment, transition) {
            (_, Some(t)) => t,
            (Some(d), None) => d.lifecycle_state(),
            (None, None) if record.desired == Desired::Stopped => "Stopped",
            (None, None) => "Created",
        };
        let reason = deployment
            .as_ref()
            .and_then(|d| d.predictor().err().map(str::to_string));
        let definition = match &deployment {
            Some(d) => Some(json!(d.config)),
            // Stopped: the stored definition of the version it would serve.
            None => self.stored_definition(record),
        };
        let versions: Vec<Value> = record
            .versions
            .iter()
            .map(|v| json!({"version": v.version, "created_ms": v.created_ms, "files": v.files.keys().collect::<Vec<_>>()}))
            .collect();
        json!({
            "name": record.name,
            "state": state,
            "reason": reason,
            "desired": record.desired,
            "version": record.current,
            "versions": versions,
            "definition": definition,
            "instances": deployment.as_ref().map(|d| instances(d)),
            "endpoints": {
                "v1": format!("/v1/models/{}:predict", record.name),
                "v2": format!("/v2/models/{}/infer", record.name),
            },
        })
    }

    fn stored_definition(&self, record: &Record) -> Option<Value> {
        let digest = record.current_version().files.get(DEFINITION_FILE)?;
        let text = std::fs::read_to_string(self.store.blob(digest)).ok()?;
        DeploymentConfig::parse(&text).ok().map(|c| json!(c))
    }

    /// The newest `tail` lines of a running (or failed) deployment's log, or of the lines
    /// one stage's guest wrote.
    pub fn logs(
        &self,
        name: &str,
        tail: usize,
        component: Option<LogComponent>,
    ) -> Result<Vec<Value>, ManageError> {
        let log = &self.serving(name)?.log;
        let lines = match component {
            None => log.tail(tail),
            Some(c) => {
                let mut lines: Vec<_> = log
                    .since(0)
                    .into_iter()
                    .filter(|l| l.component == Some(c))
                    .collect();
                lines.drain(..lines.len().saturating_sub(tail));
                lines
            }
        };
        Ok(lines.into_iter().map(|l| json!(l)).collect())
    }

    /// The deployment serving under `name` (running or failed), for its log.
    pub fn serving(&self, name: &str) -> Result<Arc<Deployment>, ManageError> {
        self.registry
            .get(name)
            .ok_or_else(|| match self.store.get(name) {
                Ok(Some(_)) => ManageError::Invalid(format!(
                    "deployment {name:?} is stopped: its log starts when it starts"
                )),
                _ => ManageError::NotFound(name.to_string()),
            })
    }

    /// Whether `deployment` is still the one serving its name (followers stop otherwise).
    pub fn is_serving(&self, deployment: &Arc<Deployment>) -> bool {
        self.registry
            .get(deployment.name())
            .is_some_and(|d| Arc::ptr_eq(&d, deployment))
    }
}

fn instances(d: &Deployment) -> Value {
    use crate::predictor::Predictor;
    let Ok(serving) = d.serving() else {
        return Value::Null;
    };
    let predictor = match &*serving.predictor {
        Predictor::Component(c) => json!(c.pool().metrics.instances.get()),
        Predictor::Native(_) => json!("native"),
    };
    let transformer = serving
        .transformer
        .as_ref()
        .map(|t| t.pool().metrics.instances.get());
    json!({"predictor": predictor, "transformer": transformer})
}

fn not_found(name: &str) -> impl FnOnce(StoreError) -> ManageError + '_ {
    move |e| match e {
        StoreError::NotFound(_) => ManageError::NotFound(name.to_string()),
        other => other.into(),
    }
}
