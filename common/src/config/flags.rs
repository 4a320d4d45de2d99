//! The flags layer: only the flags the user set, each under its config key.

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Serialize;

/// Values of command-line flags, keyed by the config key they override (dotted for nested keys).
/// A flag that was not given is not recorded, so it never hides the file or the environment.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    values: Vec<(String, Value)>,
}

impl Flags {
    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `value` for `key` when the flag was given (`Some`).
    ///
    /// # Panics
    /// When `value` does not serialise (a programming error: flags are plain values).
    pub fn set<V: Serialize>(mut self, key: &str, value: Option<V>) -> Self {
        if let Some(v) = value {
            let v = Value::serialize(v).expect("flag values serialise");
            self.values.push((key.to_string(), v));
        }
        self
    }

    /// Whether no flag was given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub(super) fn merge_into(&self, mut figment: Figment) -> Figment {
        for (key, value) in &self.values {
            figment = figment.merge(Flag {
                key: key.clone(),
                value: value.clone(),
            });
        }
        figment
    }
}

/// One flag as a figment provider.
struct Flag {
    key: String,
    value: Value,
}

impl Provider for Flag {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("flag --{}", self.key.replace(['_', '.'], "-")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = figment::util::nest(&self.key, self.value.clone())
            .into_dict()
            .ok_or_else(|| figment::Error::from(format!("flag {}: empty key", self.key)))?;
        Ok(Profile::Default.collect(dict))
    }
}
