//! Deployments as a platform one deploys to remotely: uploads become stored versions
//! ([`crate::store`]), started (`Deployment::start`) into the registry, and come back after a
//! restart in their last desired state.
//!
//! Lifecycle (Hopsworks' states): an upload validates the definition and the files, stores
//! the blobs, starts the new version from its own folder (`Starting`, or `Updating` when a
//! version is serving) and only then records it: a version that cannot start is refused and
//! never becomes current. The swap replaces the registry entry; requests in flight finish
//! on the version they started on. `stop` (`Stopping` → `Stopped`) drops it from the
//! registry; `start` brings it back from the store.
//!
//! Mutations of a deployment are serialized by its name's lock ([`locks`]), so concurrent
//! updates of it apply one after the other, each complete; other deployments' calls go on
//! meanwhile. An upload's files are stored before that lock is taken. Every name reaching
//! here is a parsed [`DeploymentName`].

mod actions;
pub mod describe;
pub mod locks;
pub mod upload;

use crate::capacity::Reservation;
use crate::definition::DeploymentConfig;
use crate::definition::{DEFINITION_FILE, MAX_DEFINITION_BYTES};
use crate::deployment::Deployment;
use crate::deployment::registry::Registry;
use crate::lifecycle::LifecycleState;
use crate::process::{DeployError, ProcessState};
use crate::store::files::FilePath;
use crate::store::{DeploymentName, Desired, Digest, Record, Staging, Store, StoreError};
use crate::views;
use locks::NameLocks;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Weak};

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
    /// A rollback to a version the deployment does not have (404).
    #[error("deployment {name:?} has no version {version} (its versions: {known})")]
    NoVersion {
        name: String,
        version: u32,
        known: String,
    },
    /// The store failed (500); the message holds no server path.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store, the process state and the registry, driven together.
pub struct Manager {
    store: Store,
    process: Arc<ProcessState>,
    registry: Arc<Registry>,
    /// One per deployment name, held by every mutation of it.
    locks: NameLocks,
    /// States of operations in progress (`Starting`, `Updating`, `Stopping`), by name.
    transitions: Mutex<HashMap<DeploymentName, LifecycleState>>,
    /// Staging folders uploaded versions serve from, each removed once its deployment is
    /// gone (replaced, stopped or deleted, and its last request answered): a native graph
    /// at zero reloads from its folder, so the folder lives as long as the deployment.
    staged: Mutex<Vec<(Weak<Deployment>, Staging)>>,
}

impl Manager {
    pub fn new(store: Store, process: Arc<ProcessState>, registry: Arc<Registry>) -> Manager {
        Manager {
            store,
            process,
            registry,
            locks: NameLocks::default(),
            transitions: Mutex::new(HashMap::new()),
            staged: Mutex::new(Vec::new()),
        }
    }

    /// Removes the staging folders no deployment serves from any more.
    fn sweep_staging(&self) {
        let gone: Vec<Staging> = {
            let mut staged = self.staged.lock();
            let (live, gone) = std::mem::take(&mut *staged)
                .into_iter()
                .partition(|(deployment, _)| deployment.strong_count() > 0);
            *staged = live;
            gone.into_iter().map(|(_, staging)| staging).collect()
        };
        for staging in gone {
            self.store.discard_staging(staging);
        }
    }

    /// Starts every stored deployment whose desired state is Running (at server start),
    /// except those named in `except` (about to be deployed from folders), all at once:
    /// each is `Starting` until it runs, and management calls answer meanwhile. One that
    /// fails is Failed with its reason (or, if it cannot even load, logged); the others are
    /// unaffected. Returns how many started.
    pub async fn restore(&self, except: &[String]) -> Result<usize, ManageError> {
        let wanted: Vec<Record> = self
            .store
            .records()?
            .into_iter()
            .filter(|r| r.desired == Desired::Running && !except.iter().any(|e| **e == *r.name))
            .collect();
        for record in &wanted {
            self.transition(&record.name, LifecycleState::Starting);
        }
        // Side by side on this task: a start's heavy work (compiling, loading models) runs
        // on blocking threads, so the starts overlap.
        let starts = wanted.iter().map(|record| async move {
            let name = &record.name;
            match self.restore_one(name).await {
                Ok(started) => started,
                // Its definition no longer reads (a newer server's rules): the others
                // still start; this one waits for a new upload.
                Err(e) => {
                    tracing::error!(deployment = %name, "not restored: {e}");
                    false
                }
            }
        });
        let started = futures_util::future::join_all(starts).await;
        Ok(started.into_iter().filter(|s| *s).count())
    }

    /// Starts `name` as stored now (a call may have changed it while it waited its turn).
    async fn restore_one(&self, name: &DeploymentName) -> Result<bool, ManageError> {
        let _guard = self.locks.lock(name).await;
        let started = match self.store.get(name) {
            Ok(Some(r)) if r.desired == Desired::Running && self.registry.get(name).is_none() => {
                self.start_current(&r).await.map(|_| true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e.into()),
        };
        // Under the lock: a call that waited for it sets its own state after this.
        self.transitions.lock().remove(name);
        started
    }

    async fn start_current(&self, record: &Record) -> Result<Arc<Deployment>, ManageError> {
        // A deployment serves the name in its definition: a record must not start another
        // deployment under its own (a crafted or damaged store).
        if let Some(config) = self.stored_definition(record)
            && config.name != *record.name
        {
            return Err(ManageError::CannotStart(format!(
                "the stored definition of {:?} names {:?}",
                record.name.as_str(),
                config.name
            )));
        }
        let dir = self
            .store
            .materialize(&record.name, record.current_version())?;
        let deployment = Deployment::start(&self.process, &dir)
            .await
            .map_err(|e| match e {
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
        let config = DeploymentConfig::parse(definition)
            .map_err(|e| ManageError::Invalid(e.0))
            .and_then(|c| {
                c.validate().map_err(|e| ManageError::Invalid(e.0))?;
                Ok(c)
            })?;
        let name = DeploymentName::parse(&config.name).map_err(ManageError::Invalid)?;
        let mut files = crate::store::files::import_dir(&self.store, dir)?;
        files.insert(
            definition_path(),
            self.store.put_blob(definition.as_bytes())?,
        );
        crate::store::files::check_tree(files.keys()).map_err(ManageError::Invalid)?;
        let _guard = self.locks.lock(&name).await;
        let (record, _) = self.store.add_version(&name, files)?;
        self.start_current(&record).await
    }

    /// Stores and starts an uploaded version (see [`upload::Upload`]); returns its
    /// description. A version that fails to start is refused and not recorded. The files
    /// are stored before the deployment's lock is taken: a large upload holds up nothing.
    pub async fn deploy(
        self: &Arc<Self>,
        upload: upload::Upload,
    ) -> Result<views::Deployment, ManageError> {
        let manager = Arc::clone(self);
        let (upload, artifacts) = tokio::task::spawn_blocking(move || {
            let artifacts = upload
                .artifacts()
                .map(|(path, bytes)| Ok((path.clone(), manager.store.put_blob(bytes)?)))
                .collect::<Result<BTreeMap<_, _>, StoreError>>();
            (upload, artifacts)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let artifacts = artifacts?;
        let name = upload.name.clone();
        let _guard = self.locks.lock(&name).await;
        let files = self.numbered_files(&upload, artifacts)?;
        let serving = self.registry.get(&name).is_some();
        self.transition(
            &name,
            if serving {
                LifecycleState::Updating
            } else {
                LifecycleState::Starting
            },
        );
        let result = self.start_files(&name, files).await;
        self.transitions.lock().remove(&name);
        result?;
        self.describe_record_of(&name)
    }

    /// The upload's files with its definition numbered by the platform: the current
    /// version's number when nothing else changed (no new version), else the next one.
    fn numbered_files(
        &self,
        upload: &upload::Upload,
        artifacts: BTreeMap<FilePath, Digest>,
    ) -> Result<BTreeMap<FilePath, Digest>, ManageError> {
        let numbered = |n: u32| -> Result<BTreeMap<FilePath, Digest>, StoreError> {
            let mut files = artifacts.clone();
            files.insert(
                definition_path(),
                self.store.put_blob(&upload.numbered_definition(n))?,
            );
            Ok(files)
        };
        let record = self.store.get(&upload.name)?;
        if let Some(r) = &record {
            let same = numbered(r.current)?;
            if r.current_version().files == same {
                return Ok(same);
            }
        }
        let next = record.map_or(1, |r| {
            r.versions.iter().map(|v| v.version).max().unwrap_or(0) + 1
        });
        Ok(numbered(next)?)
    }

    async fn start_files(
        &self,
        name: &DeploymentName,
        files: BTreeMap<FilePath, Digest>,
    ) -> Result<(), ManageError> {
        // Started from a staging folder first: only a version that starts is recorded.
        let staging = crate::store::Version {
            version: self.store.version_for(name, &files)?,
            created_ms: 0,
            files: files.clone(),
        };
        let staging = self.store.materialize_staging(name, &staging)?;
        let deployment = Deployment::start(&self.process, &staging.path)
            .await
            .map_err(|e| match e {
                DeployError::Definition { message, .. } => ManageError::Invalid(message),
                other => ManageError::CannotStart(other.to_string()),
            });
        let deployment = match deployment {
            Ok(d) => d,
            Err(e) => {
                self.store.discard_staging(staging);
                return Err(e);
            }
        };
        if let Err(reason) = deployment.predictor() {
            let reason = reason.to_string();
            self.store.discard_staging(staging);
            // Its start took over the name's capacity reservation: give it back to the
            // version still serving, if any.
            match self.registry.get(name) {
                Some(old) => {
                    let _ = self
                        .process
                        .capacity()
                        .reserve(name, Reservation::of(&old.config));
                }
                None => self.process.capacity().release(name),
            }
            return Err(ManageError::CannotStart(format!(
                "the new version of {:?} failed to start: {reason}",
                name.as_str()
            )));
        }
        self.store.add_version(name, files)?;
        self.registry.insert(deployment);
        if let Some(serving) = self.registry.get(name) {
            self.staged.lock().push((Arc::downgrade(&serving), staging));
        }
        self.sweep_staging();
        Ok(())
    }

    fn transition(&self, name: &DeploymentName, state: LifecycleState) {
        self.transitions.lock().insert(name.clone(), state);
    }

    fn record(&self, name: &DeploymentName) -> Result<Record, ManageError> {
        self.store
            .get(name)?
            .ok_or_else(|| ManageError::NotFound(name.to_string()))
    }

    /// The definition of the version `record` serves, if it reads.
    fn stored_definition(&self, record: &Record) -> Option<DeploymentConfig> {
        let digest = record.current_version().files.get(&definition_path())?;
        let bytes = self
            .store
            .read_blob(digest, MAX_DEFINITION_BYTES)
            .ok()
            .flatten()?;
        DeploymentConfig::parse(std::str::from_utf8(&bytes).ok()?).ok()
    }

    /// The deployment serving under `name` (running or failed), for its log.
    pub fn serving(&self, name: &DeploymentName) -> Result<Arc<Deployment>, ManageError> {
        self.registry
            .get(name)
            .ok_or_else(|| match self.store.get(name) {
                Ok(Some(_)) => ManageError::Invalid(format!(
                    "deployment {:?} is stopped: its log starts when it starts",
                    name.as_str()
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

/// `deployment.json`, as a path in a version.
fn definition_path() -> FilePath {
    FilePath::parse(DEFINITION_FILE).expect("the definition's name is a file path")
}

/// A store error as the client's: a missing deployment is 404, the rest stays 500.
fn store_error(e: StoreError) -> ManageError {
    match e {
        StoreError::NotFound(name) => ManageError::NotFound(name),
        other => other.into(),
    }
}
