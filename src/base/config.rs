//! The primitives every config section is built from: value types whose
//! parse errors say what was expected, and the [`Validate`] trait with its
//! [`ConfigIssue`] for what serde cannot check. The aggregate `Config` that
//! gathers the sections lives in the app layer; sections import only this.
//!
//! Value types of the config file whose parse errors say what was expected.
//!
//! serde's own messages (`invalid value: integer -5, expected usize`) are
//! correct but unhelpful at 3 a.m.; these types say what a valid value
//! looks like.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::num::NonZeroUsize;

/// A duration written the human way: `"250ms"`, `"60s"`, `"5m"`, `"1h30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    pub fn as_millis_i64(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim())
            .map(Duration)
            .map_err(|_| {
                format!("{s:?} is not a duration (write e.g. \"500ms\", \"60s\", \"5m\", \"1h\")")
            })
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"60s\" or \"5m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format_args!(
                    "{v} is not a duration: give it a unit, e.g. \"{v}s\""
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format_args!(
                    "{v} is not a duration: give it a unit, e.g. \"{v}s\""
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format_args!(
                    "{v} is not a duration: give it a unit, e.g. \"{v}s\""
                )))
            }
        }
        de.deserialize_any(V)
    }
}

/// The capacity of a bounded queue: a whole number of at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capacity(pub NonZeroUsize);

impl Capacity {
    /// `n` must be at least 1; `Capacity::new(0)` gives 1.
    pub const fn new(n: usize) -> Self {
        match NonZeroUsize::new(n) {
            Some(n) => Self(n),
            None => Self(NonZeroUsize::MIN),
        }
    }

    pub const fn get(self) -> usize {
        self.0.get()
    }
}

impl Serialize for Capacity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.get() as u64)
    }
}

impl<'de> Deserialize<'de> for Capacity {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Capacity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a positive whole number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Capacity, E> {
                usize::try_from(v)
                    .ok()
                    .and_then(NonZeroUsize::new)
                    .map(Capacity)
                    .ok_or_else(|| {
                        E::custom(format_args!(
                            "{v} is not a valid capacity: it must be a whole number of at least 1"
                        ))
                    })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Capacity, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format_args!(
                        "{v} is not a valid capacity: it must be a whole number of at least 1"
                    ))),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Capacity, E> {
                Err(E::custom(format_args!(
                    "{v} is not a valid capacity: it must be a whole number of at least 1"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Capacity, E> {
                Err(E::custom(format_args!(
                    "{v:?} is not a valid capacity: it must be a whole number of at least 1"
                )))
            }
        }
        de.deserialize_any(V)
    }
}

/// A TCP port. 0 asks the OS for a free one (the daemon logs which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a TCP port number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
                u16::try_from(v).map(Port).map_err(|_| {
                    E::custom(format_args!(
                        "{v} is not a valid TCP port (0-65535; 0 picks a free port)"
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format_args!(
                        "{v} is not a valid TCP port (0-65535; 0 picks a free port)"
                    ))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Port, E> {
                Err(E::custom(format_args!(
                    "{v:?} is not a valid TCP port (0-65535; 0 picks a free port)"
                )))
            }
        }
        de.deserialize_any(V)
    }
}

/// A secret (token, password). Printed as `********` by `check-config`,
/// `Debug` and logs; only [`Secret::expose`] gives the value.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(Option<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Some(value.into()))
    }

    /// The value, `None` when unset or empty.
    pub fn expose(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }

    pub fn is_set(&self) -> bool {
        self.expose().is_some()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() {
            "Secret(********)"
        } else {
            "Secret(unset)"
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_set() {
            s.serialize_str("********")
        } else {
            s.serialize_none()
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path, e.g. `stream.window.size`.
    pub key: String,
    pub reason: String,
    /// The environment variable that set this key, if one did.
    pub from_env: Option<String>,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
            from_env: None,
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)?;
        if let Some(var) = &self.from_env {
            write!(f, " (set by environment variable {var})")?;
        }
        Ok(())
    }
}

/// Sections check the values serde cannot (ranges, relations between keys).
pub trait Validate {
    /// Pushes one issue per problem; `section` is the section's key.
    fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_bare_numbers() {
        let d: Duration = serde_yaml::from_str("\"5m\"").unwrap();
        assert_eq!(d.get(), std::time::Duration::from_secs(300));
        let err = serde_yaml::from_str::<Duration>("\"abc\"").unwrap_err();
        assert!(
            err.to_string().contains("\"abc\" is not a duration"),
            "{err}"
        );
        let err = serde_yaml::from_str::<Duration>("60").unwrap_err();
        assert!(err.to_string().contains("\"60s\""), "{err}");
    }

    #[test]
    fn capacity_refuses_zero_and_negative() {
        assert_eq!(serde_yaml::from_str::<Capacity>("8").unwrap().get(), 8);
        for bad in ["0", "-5", "1.5", "lots"] {
            let err = serde_yaml::from_str::<Capacity>(bad).unwrap_err();
            assert!(
                err.to_string().contains("not a valid capacity"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn port_refuses_out_of_range() {
        assert_eq!(serde_yaml::from_str::<Port>("8080").unwrap(), Port(8080));
        let err = serde_yaml::from_str::<Port>("70000").unwrap_err();
        assert!(
            err.to_string().contains("70000 is not a valid TCP port"),
            "{err}"
        );
    }

    #[test]
    fn secret_is_masked_when_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(serde_yaml::to_string(&s).unwrap().trim(), "'********'");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), Some("hunter2"));
        assert_eq!(Secret::new("").expose(), None);
    }
}
