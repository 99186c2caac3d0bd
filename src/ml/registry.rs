//! The on-disk model registry:
//!
//! ```text
//! <ml.model_dir>/
//!   current                      the served version's name (replaced atomically)
//!   20261123T101500Z-rf/
//!     meta.json                  version, kind, params, features, rows, data range, metrics
//!     model.json                 fill values and the fitted model
//!     decision.json              promoted or rejected, and why
//! ```
//!
//! A version folder is written under a temporary name and renamed into
//! place, and `current` is replaced by rename, so a crash never leaves a
//! half-written model or pointer behind. Loading checks the format
//! version, the SHA-256 of `model.json` and the model's structure; a bad
//! entry is refused with the reason and whatever was served stays served.

use super::model::{FORMAT_VERSION, ModelError, ModelFile, ModelMeta, TrainedModel};
use crate::base::durable;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const CURRENT: &str = "current";
const META: &str = "meta.json";
const MODEL: &str = "model.json";
const DECISION: &str = "decision.json";

/// Why the registry could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("model {version}: incompatible with this build: {reason}")]
    Incompatible { version: String, reason: String },
    #[error("model {version} not found in {}", dir.display())]
    NotFound { version: String, dir: PathBuf },
    #[error(
        "{0:?} is not a model version name (letters, digits, '.', '_', '-'; not starting with '.')"
    )]
    BadVersionName(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What became of a trained model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Made current.
    Promoted,
    /// Worse than the champion on the same held-out data; never served.
    Rejected,
    /// Saved without a decision (e.g. `train --no-promote`).
    Candidate,
}

/// The champion/challenger decision about a model, kept beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
    /// The model's F1 on the comparison rows.
    pub f1: f64,
    /// The model it was compared with, and that model's F1 on the same rows.
    pub champion: Option<String>,
    pub champion_f1: Option<f64>,
}

/// One registry entry, for the history view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    pub version: String,
    /// `None` when `meta.json` cannot be read (see `problem`).
    pub meta: Option<ModelMeta>,
    pub decision: Option<Decision>,
    pub current: bool,
    pub problem: Option<String>,
}

/// A model registry folder.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// Checks a version name before it becomes a path.
pub fn check_version_name(version: &str) -> Result<(), RegistryError> {
    let ok = !version.is_empty()
        && !version.starts_with('.')
        && version.len() <= 128
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::BadVersionName(version.to_string()))
    }
}

impl Registry {
    /// Opens (creating if needed) the registry at `dir`.
    pub fn open(dir: &Path) -> Result<Registry, RegistryError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(Registry {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `model` (renamed `-2`, `-3`, … if its version is taken) with
    /// `decision`; returns the version it was stored as.
    pub fn save(
        &self,
        model: &mut TrainedModel,
        decision: &Decision,
    ) -> Result<String, RegistryError> {
        let base = model.meta().version.clone();
        check_version_name(&base)?;
        let mut version = base.clone();
        let mut n = 1;
        while self.dir.join(&version).exists() {
            n += 1;
            version = format!("{base}-{n}");
        }
        model.set_version(version.clone());
        let model_json = serde_json::to_vec(model.file()).map_err(|e| RegistryError::Corrupt {
            path: self.dir.join(&version).join(MODEL),
            reason: format!("cannot serialize: {e}"),
        })?;
        model.meta_mut().model_sha256 = hex::encode(Sha256::digest(&model_json));
        let meta_json = pretty(model.meta(), &self.dir.join(&version).join(META))?;
        let decision_json = pretty(decision, &self.dir.join(&version).join(DECISION))?;

        let tmp = self
            .dir
            .join(format!(".tmp-{version}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        write_synced(&tmp.join(MODEL), &model_json)?;
        write_synced(&tmp.join(META), &meta_json)?;
        write_synced(&tmp.join(DECISION), &decision_json)?;
        let target = self.dir.join(&version);
        durable::rename(&tmp, &target).map_err(io(&target))?;
        Ok(version)
    }

    /// Replaces the decision kept beside `version`.
    pub fn record_decision(&self, version: &str, decision: &Decision) -> Result<(), RegistryError> {
        check_version_name(version)?;
        let path = self.dir.join(version).join(DECISION);
        write_synced(&path, &pretty(decision, &path)?)
    }

    /// Points `current` at `version` (which must load).
    pub fn set_current(&self, version: &str) -> Result<(), RegistryError> {
        check_version_name(version)?;
        if !self.dir.join(version).join(META).exists() {
            return Err(RegistryError::NotFound {
                version: version.to_string(),
                dir: self.dir.clone(),
            });
        }
        write_synced(&self.dir.join(CURRENT), format!("{version}\n").as_bytes())
    }

    /// The version `current` points at, if any.
    pub fn current_version(&self) -> Result<Option<String>, RegistryError> {
        let path = self.dir.join(CURRENT);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let version = text.trim().to_string();
                check_version_name(&version).map_err(|_| RegistryError::Corrupt {
                    path: path.clone(),
                    reason: format!("{version:?} is not a version name"),
                })?;
                Ok(Some(version))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::Io { path, source: e }),
        }
    }

    /// Loads and checks one version.
    pub fn load(&self, version: &str) -> Result<TrainedModel, RegistryError> {
        check_version_name(version)?;
        let dir = self.dir.join(version);
        if !dir.is_dir() {
            return Err(RegistryError::NotFound {
                version: version.to_string(),
                dir: self.dir.clone(),
            });
        }
        let meta = read_meta(&dir.join(META), version)?;
        let model_path = dir.join(MODEL);
        let bytes = std::fs::read(&model_path).map_err(io(&model_path))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if digest != meta.model_sha256 {
            return Err(RegistryError::Corrupt {
                path: model_path,
                reason: format!("SHA-256 is {digest}, meta.json says {}", meta.model_sha256),
            });
        }
        let file: ModelFile =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                path: model_path.clone(),
                reason: e.to_string(),
            })?;
        TrainedModel::new(meta, file).map_err(|e: ModelError| RegistryError::Incompatible {
            version: version.to_string(),
            reason: e.to_string(),
        })
    }

    /// Loads the current model; `None` when there is none yet.
    pub fn load_current(&self) -> Result<Option<TrainedModel>, RegistryError> {
        match self.current_version()? {
            Some(version) => self.load(&version).map(Some),
            None => Ok(None),
        }
    }

    /// Every model in the registry, newest first, with its decision —
    /// including rejected challengers and entries that no longer load.
    pub fn history(&self) -> Result<Vec<ModelRecord>, RegistryError> {
        let current = self.current_version().ok().flatten();
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let Some(version) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !entry.path().is_dir() || check_version_name(&version).is_err() {
                continue;
            }
            let (meta, problem) = match read_meta(&entry.path().join(META), &version) {
                Ok(meta) => (Some(meta), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let decision = std::fs::read(entry.path().join(DECISION))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            records.push(ModelRecord {
                current: current.as_deref() == Some(version.as_str()),
                version,
                meta,
                decision,
                problem,
            });
        }
        records.sort_by(|a, b| {
            let created = |r: &ModelRecord| r.meta.as_ref().map(|m| m.created_at);
            created(b)
                .cmp(&created(a))
                .then_with(|| b.version.cmp(&a.version))
        });
        Ok(records)
    }

    /// Deletes the oldest versions beyond `keep`, never the current one.
    /// Returns the versions removed.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>, RegistryError> {
        let mut removed = Vec::new();
        for record in self.history()?.into_iter().skip(keep) {
            if record.current {
                continue;
            }
            let path = self.dir.join(&record.version);
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
            removed.push(record.version);
        }
        Ok(removed)
    }
}

fn read_meta(path: &Path, version: &str) -> Result<ModelMeta, RegistryError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let corrupt = |reason: String| RegistryError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    // The format version first, so a newer file is reported as such
    // rather than as whatever field it renamed.
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let found = value.get("format_version").and_then(|v| v.as_u64());
    if found != Some(u64::from(FORMAT_VERSION)) {
        return Err(RegistryError::Incompatible {
            version: version.to_string(),
            reason: format!(
                "format version {}, this build reads {FORMAT_VERSION}",
                found.map_or("missing".to_string(), |v| v.to_string())
            ),
        });
    }
    serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))
}

fn pretty<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, RegistryError> {
    serde_json::to_vec_pretty(value).map_err(|e| RegistryError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot serialize: {e}"),
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    durable::write(path, bytes).map_err(io(path))
}
