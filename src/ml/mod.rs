//! Fire prediction: training and evaluating smartcore models, the on-disk
//! model registry, and hot-swapped serving to the stream and the web.

mod config;
pub mod serving;

pub use config::MlConfig;
pub use serving::{FireModel, ModelHandle, Prediction};
