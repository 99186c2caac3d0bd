//! The devices the fleet is known to have, so the stream can refuse
//! readings from devices nobody installed (a misconfigured or spoofed
//! sender) instead of opening windows and alerts for them.
//!
//! Filled by whoever knows the fleet: the simulator registers its devices
//! at start; an empty registry means "no allow-list", and every device is
//! accepted.

use super::{DeviceId, HomeId, RoomId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Where a known device is installed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub home: HomeId,
    pub room: RoomId,
}

/// Shared, read-mostly registry of known devices. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DeviceRegistry {
    devices: Arc<RwLock<HashMap<DeviceId, DeviceInfo>>>,
}

impl DeviceRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&self, device: DeviceId, home: HomeId, room: RoomId) {
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(device, DeviceInfo { home, room });
    }

    /// Where `device` is installed, if it is known.
    pub fn get(&self, device: &DeviceId) -> Option<DeviceInfo> {
        self.devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(device)
            .cloned()
    }

    /// Whether readings from `device` should be accepted: true when the
    /// device is registered or when no device is registered at all.
    pub fn accepts(&self, device: &DeviceId) -> bool {
        let devices = self.devices.read().unwrap_or_else(|p| p.into_inner());
        devices.is_empty() || devices.contains_key(device)
    }

    /// [`DeviceRegistry::accepts`] for a device id still in text form.
    pub fn accepts_text(&self, device: &str) -> bool {
        let devices = self.devices.read().unwrap_or_else(|p| p.into_inner());
        devices.is_empty() || devices.contains_key(device)
    }

    pub fn len(&self) -> usize {
        self.devices.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All known devices, sorted by id.
    pub fn list(&self) -> Vec<(DeviceId, DeviceInfo)> {
        let mut all: Vec<_> = self
            .devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_registry_accepts_everyone_filled_one_only_its_devices() {
        let registry = DeviceRegistry::new();
        assert!(registry.accepts(&"anything".into()));
        registry.register("h1-kitchen-smoke".into(), "h1".into(), "kitchen".into());
        assert!(registry.accepts(&"h1-kitchen-smoke".into()));
        assert!(!registry.accepts(&"intruder".into()));
        assert!(registry.accepts_text("h1-kitchen-smoke") && !registry.accepts_text("intruder"));
        assert_eq!(
            registry
                .get(&"h1-kitchen-smoke".into())
                .unwrap()
                .room
                .as_str(),
            "kitchen"
        );
    }
}
