//! Why a command failed: one typed error for the commands' fallible work,
//! printed as `error: …` by the command that returns it. Each variant's
//! message names what went wrong; the causes keep their own messages.

use crate::dataset::DataError;
use crate::ml::{Registry, RegistryError, TrainedModel};
use crate::schema::json::DecodeError;
use crate::stream::StreamError;
use crate::transport::TransportError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "no model: the registry {} has no current model (train one with `smokewatch train --data PATH`)",
        .0.display()
    )]
    NoModel(PathBuf),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Input(#[from] DecodeError),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stream: {0}")]
    Stream(#[from] StreamError),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    #[error("the stream did not finish within {0:?}")]
    Timeout(std::time::Duration),
    #[error("shutdown aborted {0:?}")]
    ShutdownAborted(Vec<String>),
}

/// Model `version` of the registry in `model_dir`, or its current one;
/// returns the version loaded with the model.
pub fn load_model(
    model_dir: &Path,
    version: Option<&str>,
) -> Result<(String, TrainedModel), CliError> {
    let registry = Registry::open(model_dir)?;
    let version = match version {
        Some(v) => v.to_string(),
        None => registry
            .current_version()?
            .ok_or_else(|| CliError::NoModel(model_dir.to_path_buf()))?,
    };
    let model = registry.load(&version)?;
    Ok((version, model))
}
