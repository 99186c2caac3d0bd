//! The devices the fleet is known to have, so the stream can refuse
//! readings from devices nobody installed (a misconfigured or spoofed
//! sender) instead of opening windows and alerts for them.
//!
//! Filled by whoever knows the fleet: the simulator registers its devices
//! at start, the `devices:` config list at start, `POST /api/devices` at
//! any time, and the stream itself for an unknown device whose id reads
//! `home-room-kind` (`stream.unknown_devices: register`, see
//! [`DeviceRegistry::admit`]).
//!
//! Registrations through the API and automatic ones are kept across
//! restarts in one small JSON file in the data dir (written atomically with
//! [`crate::base::durable`]); the simulator's and the config's are not
//! written, since both are registered again at every start. The API writes
//! before it answers; automatic registrations are written by the stream's
//! validate stage when it takes its checkpoint snapshot, so a checkpoint
//! never covers a reading whose registration is not on disk. An automatic
//! registration is a pure function of the device id, so a reading replayed
//! after a crash registers its device again, identically.

use super::{DeviceId, HomeId, RoomId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Who registered a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSource {
    /// The simulator's fleet (or code that knows its fleet); not persisted.
    Fleet,
    /// The `devices:` config list; not persisted (the config is read again).
    Config,
    /// `POST /api/devices`.
    Api,
    /// The stream, for an unknown device whose id reads `home-room-kind`.
    Auto,
}

impl DeviceSource {
    fn persisted(self) -> bool {
        matches!(self, DeviceSource::Api | DeviceSource::Auto)
    }
}

/// Where a known device is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// Home the device is installed in: as registered, or read from a `home-room-kind` id.
    pub home: HomeId,
    /// Room of `home` the device is installed in.
    pub room: RoomId,
    /// Who registered it; only `api` and `auto` registrations are written to disk.
    pub source: DeviceSource,
}

/// What to do with a reading from a device the registry does not know
/// (`stream.unknown_devices`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownDevices {
    /// Register it when its id reads `home-room-kind`; dead-letter others
    /// (unless no device is known at all: then there is no allow-list).
    #[default]
    Register,
    /// Dead-letter every reading from an unregistered device.
    DeadLetter,
}

/// The registry's verdict on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Registered.
    Known,
    /// Not registered, but no device is known at all, so there is no
    /// allow-list to check against (`register` only).
    Open,
    /// Not registered; its id reads `home-room-kind`: register it so.
    Register { home: HomeId, room: RoomId },
    /// Refused; the reason names the policy and how to register it.
    Refused(String),
}

/// One entry of the `devices:` config list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// The device id its readings carry in `device_id`.
    pub id: String,
    /// Its home; optional when the id reads `home-room-kind`.
    #[serde(default)]
    pub home: Option<String>,
    /// Its room; optional when the id reads `home-room-kind`.
    #[serde(default)]
    pub room: Option<String>,
}

impl DeviceEntry {
    /// (home, room): as given, else read from the id.
    pub fn placement(&self) -> Result<(HomeId, RoomId), String> {
        let parsed = parse_device_id(&self.id);
        let home = self
            .home
            .as_deref()
            .or(parsed.map(|p| p.0))
            .filter(|s| !s.trim().is_empty());
        let room = self
            .room
            .as_deref()
            .or(parsed.map(|p| p.1))
            .filter(|s| !s.trim().is_empty());
        match (home, room) {
            (Some(home), Some(room)) => Ok((HomeId::from(home), RoomId::from(room))),
            _ => Err(format!(
                "device {:?} needs `home` and `room`: its id does not read home-room-kind",
                self.id
            )),
        }
    }
}

/// Checks a `devices:` list: ids non-empty and unique, every device placed.
pub fn validate_entries(
    entries: &[DeviceEntry],
    key: &str,
    issues: &mut Vec<crate::base::config::ConfigIssue>,
) {
    let mut seen = std::collections::HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{key}[{i}]");
        if entry.id.trim().is_empty() {
            issues.push(crate::base::config::ConfigIssue::new(
                format!("{at}.id"),
                "must not be empty",
            ));
            continue;
        }
        if !seen.insert(entry.id.as_str()) {
            issues.push(crate::base::config::ConfigIssue::new(
                format!("{at}.id"),
                format!("device {:?} is listed twice", entry.id),
            ));
        }
        if let Err(reason) = entry.placement() {
            issues.push(crate::base::config::ConfigIssue::new(at, reason));
        }
    }
}

/// Reads `home-room-kind` from a device id: the home before the first
/// `-`, the kind after the last, the room between (it may hold `-`).
/// Every part is non-empty ASCII letters, digits, `_` or `.`, and the id
/// at most 128 bytes, so arbitrary text is never registered.
pub fn parse_device_id(id: &str) -> Option<(&str, &str, &str)> {
    if id.len() > 128 {
        return None;
    }
    let (home, rest) = id.split_once('-')?;
    let (room, kind) = rest.rsplit_once('-')?;
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    };
    let part = |s: &str| word(s) && !s.contains('-');
    (part(home) && word(room) && !room.starts_with('-') && !room.ends_with('-') && part(kind))
        .then_some((home, room, kind))
}

/// Why the registry file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("device registry {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("device registry {} is not a registry file ({detail}); move it away to start with an empty registry", path.display())]
    Corrupt { path: PathBuf, detail: String },
}

/// The persisted file.
#[derive(Debug, Serialize, Deserialize)]
struct StoredRegistry {
    version: u32,
    devices: Vec<StoredDevice>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredDevice {
    id: DeviceId,
    home: HomeId,
    room: RoomId,
    source: DeviceSource,
}

const STORE_VERSION: u32 = 1;

/// The file the persisted registrations live in.
#[derive(Debug)]
struct Store {
    path: PathBuf,
    /// Held while a snapshot is taken and written, so writes land in order.
    write: Mutex<()>,
    /// Something persisted changed since the last write.
    dirty: AtomicBool,
}

/// Shared, read-mostly registry of known devices. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DeviceRegistry {
    devices: Arc<RwLock<HashMap<DeviceId, DeviceInfo>>>,
    store: Option<Arc<Store>>,
}

impl DeviceRegistry {
    /// A registry kept in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry persisted in `path`, with the registrations already there.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let registry = DeviceRegistry {
            devices: Arc::default(),
            store: Some(Arc::new(Store {
                path: path.to_path_buf(),
                write: Mutex::new(()),
                dirty: AtomicBool::new(false),
            })),
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(registry),
            Err(source) => {
                return Err(RegistryError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let stored: StoredRegistry =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        if stored.version != STORE_VERSION {
            return Err(RegistryError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "version {}, this build reads {STORE_VERSION}",
                    stored.version
                ),
            });
        }
        {
            let mut devices = registry.write_lock();
            for d in stored.devices {
                devices.insert(
                    d.id,
                    DeviceInfo {
                        home: d.home,
                        room: d.room,
                        source: d.source,
                    },
                );
            }
        }
        Ok(registry)
    }

    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<DeviceId, DeviceInfo>> {
        self.devices.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, HashMap<DeviceId, DeviceInfo>> {
        self.devices.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a device of the fleet (in memory; see [`DeviceSource::Fleet`]).
    pub fn register(&self, device: DeviceId, home: HomeId, room: RoomId) {
        self.insert(device, home, room, DeviceSource::Fleet);
    }

    /// Registers the `devices:` config list (in memory: read at every start).
    pub fn register_config(&self, entries: &[DeviceEntry]) {
        for entry in entries {
            // Config validation refused unplaced entries already.
            if let Ok((home, room)) = entry.placement() {
                self.insert(
                    DeviceId::from(entry.id.as_str()),
                    home,
                    room,
                    DeviceSource::Config,
                );
            }
        }
    }

    /// Registers devices and writes the registry file before returning
    /// (`POST /api/devices`). Blocking file I/O.
    pub fn register_persistent(
        &self,
        devices: Vec<(DeviceId, HomeId, RoomId)>,
    ) -> Result<(), RegistryError> {
        for (device, home, room) in devices {
            self.insert(device, home, room, DeviceSource::Api);
        }
        self.flush().map(drop)
    }

    /// Registers a device the stream admitted ([`Admission::Register`]);
    /// written at the next [`DeviceRegistry::flush`].
    pub fn register_auto(&self, device: DeviceId, home: HomeId, room: RoomId) {
        self.insert(device, home, room, DeviceSource::Auto);
    }

    fn insert(&self, device: DeviceId, home: HomeId, room: RoomId, source: DeviceSource) {
        let info = DeviceInfo { home, room, source };
        let previous = self.write_lock().insert(device, info.clone());
        let changed = previous.as_ref() != Some(&info);
        let persisted = source.persisted() || previous.is_some_and(|p| p.source.persisted());
        if changed
            && persisted
            && let Some(store) = &self.store
        {
            store.dirty.store(true, Ordering::SeqCst);
        }
    }

    /// Writes the persisted registrations if they changed since the last
    /// write; `Ok(true)` when it wrote. Blocking file I/O; a no-op for a
    /// registry kept in memory.
    pub fn flush(&self) -> Result<bool, RegistryError> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let _write = store.write.lock().unwrap_or_else(|p| p.into_inner());
        if !store.dirty.swap(false, Ordering::SeqCst) {
            return Ok(false);
        }
        let mut devices: Vec<StoredDevice> = self
            .read_lock()
            .iter()
            .filter(|(_, info)| info.source.persisted())
            .map(|(id, info)| StoredDevice {
                id: id.clone(),
                home: info.home.clone(),
                room: info.room.clone(),
                source: info.source,
            })
            .collect();
        devices.sort_by(|a, b| a.id.cmp(&b.id));
        let stored = StoredRegistry {
            version: STORE_VERSION,
            devices,
        };
        let bytes = serde_json::to_vec_pretty(&stored).unwrap_or_default();
        crate::base::durable::write(&store.path, &bytes).map_err(|source| {
            store.dirty.store(true, Ordering::SeqCst);
            RegistryError::Io {
                path: store.path.clone(),
                source,
            }
        })?;
        Ok(true)
    }

    /// Where the registry is persisted, if it is.
    pub fn path(&self) -> Option<&Path> {
        self.store.as_deref().map(|s| s.path.as_path())
    }

    /// Where `device` is installed, if it is known.
    pub fn get(&self, device: &DeviceId) -> Option<DeviceInfo> {
        self.read_lock().get(device).cloned()
    }

    /// Whether readings from `device` should be accepted: true when the
    /// device is registered or when no device is registered at all.
    pub fn accepts(&self, device: &DeviceId) -> bool {
        self.accepts_text(device.as_str())
    }

    /// [`DeviceRegistry::accepts`] for a device id still in text form.
    pub fn accepts_text(&self, device: &str) -> bool {
        let devices = self.read_lock();
        devices.is_empty() || devices.contains_key(device)
    }

    /// The verdict on `device` under `policy`. With `register`, a known
    /// device is accepted, an unknown one whose id reads `home-room-kind`
    /// is to be registered so, and any other is refused, unless no device
    /// is known at all (simulator off, no `devices:`, none registered):
    /// then there is no allow-list. With `dead_letter` only known devices
    /// are accepted.
    pub fn admit(&self, device: &str, policy: UnknownDevices) -> Admission {
        let empty = {
            let devices = self.read_lock();
            if devices.contains_key(device) {
                return Admission::Known;
            }
            devices.is_empty()
        };
        match policy {
            UnknownDevices::Register => match parse_device_id(device) {
                Some((home, room, _)) => Admission::Register {
                    home: HomeId::from(home),
                    room: RoomId::from(room),
                },
                None if empty => Admission::Open,
                None => Admission::Refused(format!(
                    "device {device:?} is not in the fleet registry, and its id does not read \
                     home-room-kind, so it was not registered automatically \
                     (stream.unknown_devices: register); register it with POST /api/devices or \
                     the devices: config list"
                )),
            },
            UnknownDevices::DeadLetter => Admission::Refused(format!(
                "device {device:?} is not in the fleet registry (stream.unknown_devices: \
                 dead_letter); register it with POST /api/devices or the devices: config list"
            )),
        }
    }

    pub fn len(&self) -> usize {
        self.read_lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All known devices, sorted by id.
    pub fn list(&self) -> Vec<(DeviceId, DeviceInfo)> {
        let mut all: Vec<_> = self
            .read_lock()
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

    #[test]
    fn ids_that_read_home_room_kind() {
        assert_eq!(
            parse_device_id("h001-kitchen-smoke"),
            Some(("h001", "kitchen", "smoke"))
        );
        assert_eq!(
            parse_device_id("h1-living-room-smoke"),
            Some(("h1", "living-room", "smoke"))
        );
        for bad in [
            "dev-01", "intruder", "a--b", "-a-b", "a-b-", "a b-c-d", "h-r-k\n",
        ] {
            assert_eq!(parse_device_id(bad), None, "{bad:?}");
        }
        assert_eq!(parse_device_id(&format!("h-{}-k", "r".repeat(200))), None);
    }

    #[test]
    fn admission_under_both_policies() {
        let registry = DeviceRegistry::new();
        assert_eq!(
            registry.admit("dev-01", UnknownDevices::Register),
            Admission::Open
        );
        assert!(matches!(
            registry.admit("dev-01", UnknownDevices::DeadLetter),
            Admission::Refused(_)
        ));
        registry.register("h1-k-smoke".into(), "h1".into(), "k".into());
        assert_eq!(
            registry.admit("h1-k-smoke", UnknownDevices::DeadLetter),
            Admission::Known
        );
        assert_eq!(
            registry.admit("h9-attic-smoke", UnknownDevices::Register),
            Admission::Register {
                home: "h9".into(),
                room: "attic".into()
            }
        );
        let Admission::Refused(reason) = registry.admit("dev-01", UnknownDevices::Register) else {
            panic!("refused");
        };
        assert!(reason.contains("home-room-kind"), "{reason}");
        let Admission::Refused(reason) =
            registry.admit("h9-attic-smoke", UnknownDevices::DeadLetter)
        else {
            panic!("refused");
        };
        assert!(reason.contains("dead_letter"), "{reason}");
    }

    #[test]
    fn api_and_auto_registrations_survive_a_restart_fleet_and_config_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devices.json");
        let registry = DeviceRegistry::open(&path).unwrap();
        registry.register("h1-k-smoke".into(), "h1".into(), "k".into());
        registry.register_config(&[DeviceEntry {
            id: "cfg".into(),
            home: Some("h2".into()),
            room: Some("hall".into()),
        }]);
        assert!(!registry.flush().unwrap(), "nothing persisted changed");
        registry
            .register_persistent(vec![("sensor-7".into(), "h3".into(), "attic".into())])
            .unwrap();
        registry.register_auto("h9-cellar-smoke".into(), "h9".into(), "cellar".into());
        assert!(registry.flush().unwrap());
        assert!(!registry.flush().unwrap(), "written once");

        let reopened = DeviceRegistry::open(&path).unwrap();
        let ids: Vec<String> = reopened
            .list()
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        assert_eq!(ids, ["h9-cellar-smoke", "sensor-7"]);
        let info = reopened.get(&"sensor-7".into()).unwrap();
        assert_eq!(
            (info.room.as_str(), info.source),
            ("attic", DeviceSource::Api)
        );
        // Registering the same auto device again changes nothing.
        reopened.register_auto("h9-cellar-smoke".into(), "h9".into(), "cellar".into());
        assert!(!reopened.flush().unwrap());
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devices.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = DeviceRegistry::open(&path).unwrap_err();
        assert!(err.to_string().contains("devices.json"), "{err}");
    }

    #[test]
    fn config_entries_need_a_placement() {
        let mut issues = Vec::new();
        validate_entries(
            &[
                DeviceEntry {
                    id: "h1-k-smoke".into(),
                    home: None,
                    room: None,
                },
                DeviceEntry {
                    id: "lonely".into(),
                    home: None,
                    room: None,
                },
                DeviceEntry {
                    id: "h1-k-smoke".into(),
                    home: None,
                    room: None,
                },
            ],
            "devices",
            &mut issues,
        );
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["devices[1]", "devices[2].id"]);
    }
}
