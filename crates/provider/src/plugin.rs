//! The one trait a provider implements to plug into pulsegate, and how its settings
//! reach it.
//!
//! A provider is one folder in `pulsegate-providers` (`crates/providers/src/<slug>/`):
//! its [`Descriptor`] (facts), its push verifier, its API client, its mapping into
//! Terra's schema, its writes, its settings and its tests. It is registered by one line
//! in that crate's registry; the stages and front doors reach it only through this
//! trait and that registry.
//!
//! Settings: each provider reads its own tables, `[ingest.<slug>]` (how its pushes are
//! verified) and `[normalizer.<slug>]` (its API and OAuth application), into its own
//! structs with `deny_unknown_fields`; the stages keep them as [`ProviderTables`] and never
//! look inside.

use std::collections::BTreeMap;
use std::sync::Arc;

use pulsegate_schema::{Provider, Secret};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::signing::ReplayGuard;
use crate::{Descriptor, Limiters, ProviderNormalizer, ProviderVerifier, RetryConfig};

/// A provider's settings that do not make sense (unknown key, wrong type, a value it
/// cannot use). The message names the key, never a secret's value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// The replay guard a provider's verifier keeps: how many requests it remembers and for
/// how long (twice its timestamp window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayGuardSpec {
    pub capacity: usize,
    pub window_ms: u64,
}

/// One provider, as the stages and front doors see it.
pub trait Plugin: Send + Sync + 'static {
    /// Its facts.
    fn descriptor(&self) -> &'static Descriptor;

    /// Its push verifier, built from its `[ingest.<slug>]` table (`Null`: absent) with
    /// the replay guard ingest keeps for it ([`replay_guard`](Self::replay_guard)).
    /// `Ok(None)`: not configured, its route is not mounted (404). Default: no pushes.
    fn verifier(
        &self,
        _push: &Value,
        _replays: Option<Arc<ReplayGuard>>,
    ) -> Result<Option<Box<dyn ProviderVerifier>>, SettingsError> {
        Ok(None)
    }

    /// The replay guard its verifier needs, from the same table. Default: none.
    fn replay_guard(&self, _push: &Value) -> Result<Option<ReplayGuardSpec>, SettingsError> {
        Ok(None)
    }

    /// Its API side (notification handling, range fetches, writes), built from its
    /// `[normalizer.<slug>]` table. Every provider has one (the on-device sources only
    /// map what was uploaded).
    fn normalizer(
        &self,
        api: &Value,
        retry: &RetryConfig,
        limiters: &Limiters,
    ) -> Result<Arc<dyn ProviderNormalizer>, SettingsError>;

    /// Its OAuth application (client id and secret) from its `[normalizer.<slug>]`
    /// table, for the connect flow. Default: none (no OAuth).
    fn oauth_app(&self, _api: &Value) -> Result<Option<(String, Secret)>, SettingsError> {
        Ok(None)
    }
}

/// Reads a provider's table into its settings struct (`Null`: the defaults).
pub fn settings<T: DeserializeOwned + Default>(table: &Value) -> Result<T, SettingsError> {
    if table.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(table.clone()).map_err(|e| SettingsError(e.to_string()))
}

/// The providers' own tables of one section (`[ingest.<slug>]` or
/// `[normalizer.<slug>]`), by provider, as written: the stages hand them to the
/// providers and never look inside.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderTables(BTreeMap<Provider, Value>);

static NULL: Value = Value::Null;

impl ProviderTables {
    /// Moves every key of `section` that is a provider's slug into the tables; what
    /// remains is the section's own settings.
    pub fn take_from(section: &mut Map<String, Value>) -> Self {
        let mut tables = BTreeMap::new();
        for p in Provider::ALL {
            if let Some(v) = section.remove(p.slug()) {
                tables.insert(p, v);
            }
        }
        Self(tables)
    }

    /// `p`'s table (`Null` when absent: the provider's defaults).
    pub fn get(&self, p: Provider) -> &Value {
        self.0.get(&p).unwrap_or(&NULL)
    }

    /// Sets `p`'s table (tests and the binary's overlays).
    pub fn set(&mut self, p: Provider, table: Value) {
        self.0.insert(p, table);
    }

    /// Sets one key of `p`'s table.
    pub fn set_key(&mut self, p: Provider, key: &str, value: impl Into<Value>) {
        let table = self.0.entry(p).or_insert_with(|| Value::Object(Map::new()));
        if !table.is_object() {
            *table = Value::Object(Map::new());
        }
        if let Value::Object(m) = table {
            m.insert(key.to_string(), value.into());
        }
    }
}

/// Deserializes a section with provider tables in it: the provider keys go to
/// [`ProviderTables`], the rest to the section's own struct `T` (which denies unknown
/// keys, so a misspelt provider or setting is still an error).
pub fn split_section<'de, D, T>(d: D) -> Result<(T, ProviderTables), D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::Error;
    use serde::Deserialize;
    let mut map = Map::<String, Value>::deserialize(d)?;
    let tables = ProviderTables::take_from(&mut map);
    let own = serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)?;
    Ok((own, tables))
}
