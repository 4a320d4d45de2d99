//! The domain registry: domains register (idempotent by id) and heartbeat; persisted in sled.
//!
//! A domain is unreachable when its last heartbeat is older than `domain_unreachable_after_ms`,
//! or when its WatchIntentStatus stream has been down that long (see [`DomainHealth`]); that
//! is reported with the age, never treated as a failure.

use crate::error::StoreError;
use maestro_common::text::{Lines, MAX_LINE_BYTES, check_text};
use maestro_common::time::timestamp;
use maestro_common::{FieldError, ResourceName};
use maestro_proto::domain::v1 as pb;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// A registered domain as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// Domain id.
    pub id: String,
    /// gRPC endpoint of its orchestrator.
    pub endpoint: String,
    /// Labels for placement selectors.
    pub labels: BTreeMap<String, String>,
    /// Region.
    pub region: String,
    /// Its sites.
    pub sites: Vec<String>,
    /// Labels of its sites, by site (a site without an entry has none of its own).
    #[serde(default)]
    pub site_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// First registration, ms since the epoch.
    pub registered_ms: i64,
    /// Last heartbeat (or registration), ms since the epoch.
    pub last_heartbeat_ms: i64,
    /// The catalog it publishes, one JSON document per spec (checked when registered); `None`:
    /// it offers maestro's own catalog.
    #[serde(default)]
    pub catalog: Option<Vec<serde_json::Value>>,
}

/// Liveness of a domain as the roll-up sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainHealth {
    /// Last heartbeat, ms since the epoch.
    pub last_heartbeat_ms: i64,
    /// Threshold after which it is unreachable.
    pub unreachable_after_ms: u64,
    /// Since when its WatchIntentStatus stream is down, ms since the epoch (`None` = up, or
    /// not watched).
    pub stream_down_since_ms: Option<i64>,
}

impl DomainHealth {
    /// Milliseconds since the last heartbeat at `now_ms` (0 when in the future).
    pub fn age_ms(&self, now_ms: i64) -> u64 {
        u64::try_from(now_ms - self.last_heartbeat_ms).unwrap_or(0)
    }

    fn heartbeat_stale(&self, now_ms: i64) -> bool {
        self.age_ms(now_ms) > self.unreachable_after_ms
    }

    fn stream_stale(&self, now_ms: i64) -> bool {
        self.stream_down_since_ms
            .is_some_and(|t| u64::try_from(now_ms - t).unwrap_or(0) > self.unreachable_after_ms)
    }

    /// Whether the domain counts as unreachable at `now_ms`: no heartbeat, or no status stream,
    /// for longer than the threshold.
    pub fn unreachable(&self, now_ms: i64) -> bool {
        self.heartbeat_stale(now_ms) || self.stream_stale(now_ms)
    }

    /// When the domain was last heard on the signals that failed (the latest of them), or its
    /// last heartbeat when it is reachable.
    pub fn last_heard_ms(&self, now_ms: i64) -> i64 {
        let heartbeat = self
            .heartbeat_stale(now_ms)
            .then_some(self.last_heartbeat_ms);
        let stream = self
            .stream_stale(now_ms)
            .then_some(self.stream_down_since_ms)
            .flatten();
        match (heartbeat, stream) {
            (Some(h), Some(s)) => h.max(s),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => self.last_heartbeat_ms,
        }
    }
}

/// A validated RegisterDomain request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRegistration {
    /// Domain id.
    pub id: ResourceName,
    /// http(s) endpoint.
    pub endpoint: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Region.
    pub region: String,
    /// Sites.
    pub sites: Vec<ResourceName>,
    /// Labels of its sites, by site.
    pub site_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// The catalog it publishes, checked (`None`: it offers maestro's).
    pub catalog: Option<Vec<serde_json::Value>>,
}

/// Most labels of one domain.
pub use maestro_common::text::MAX_LABELS;
/// Most sites of one domain.
pub const MAX_SITES: usize = 1024;
/// Most specifications one domain publishes.
pub const MAX_CATALOG_SPECS: usize = 256;
/// Largest catalog document, in bytes of JSON.
pub const MAX_CATALOG_DOCUMENT_BYTES: usize = 256 * 1024;

impl TryFrom<pb::RegisterDomainRequest> for DomainRegistration {
    type Error = FieldError;

    fn try_from(r: pb::RegisterDomainRequest) -> Result<Self, FieldError> {
        let pb::RegisterDomainRequest {
            id,
            endpoint,
            labels,
            region,
            sites,
            catalog_json,
            publishes_catalog,
            site_labels,
        } = r;
        let id = ResourceName::parse("id", &id)?;
        check_text("endpoint", &endpoint, MAX_LINE_BYTES, Lines::One)?;
        check_endpoint(&endpoint)?;
        check_text("region", &region, MAX_LINE_BYTES, Lines::One)?;
        maestro_common::text::check_labels("labels", &labels)?;
        if sites.len() > MAX_SITES {
            return Err(FieldError::new(
                "sites",
                format!("more than {MAX_SITES} sites"),
            ));
        }
        let mut names = Vec::with_capacity(sites.len());
        for (i, s) in sites.iter().enumerate() {
            let n = ResourceName::parse(&format!("sites[{i}]"), s)?;
            if names.contains(&n) {
                return Err(FieldError::new(
                    format!("sites[{i}]"),
                    format!("duplicate site '{s}'"),
                ));
            }
            names.push(n);
        }
        let mut labelled = BTreeMap::new();
        for (site, l) in site_labels {
            let at = format!("site_labels[{site:?}]");
            if !names.iter().any(|n| n.as_str() == site) {
                return Err(FieldError::new(at, "not a site of the domain"));
            }
            maestro_common::text::check_labels(&format!("{at}.labels"), &l.labels)?;
            if !l.labels.is_empty() {
                labelled.insert(site, l.labels.into_iter().collect());
            }
        }
        let catalog = if publishes_catalog {
            Some(check_catalog(&catalog_json)?)
        } else if catalog_json.is_empty() {
            None
        } else {
            return Err(FieldError::new(
                "catalog_json",
                "given without publishes_catalog",
            ));
        };
        Ok(Self {
            id,
            endpoint,
            labels: labels.into_iter().collect(),
            region,
            sites: names,
            site_labels: labelled,
            catalog,
        })
    }
}

/// Checks a published catalog: each document a valid specification, ids unique.
fn check_catalog(docs: &[String]) -> Result<Vec<serde_json::Value>, FieldError> {
    if docs.len() > MAX_CATALOG_SPECS {
        return Err(FieldError::new(
            "catalog_json",
            format!("more than {MAX_CATALOG_SPECS} specifications"),
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(docs.len());
    for (i, text) in docs.iter().enumerate() {
        let at = format!("catalog_json[{i}]");
        if text.len() > MAX_CATALOG_DOCUMENT_BYTES {
            return Err(FieldError::new(
                at,
                format!("larger than {MAX_CATALOG_DOCUMENT_BYTES} bytes"),
            ));
        }
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| FieldError::new(&at, e.to_string()))?;
        let spec = crate::catalog::spec_from_json(&doc).map_err(|e| e.within(&at))?;
        if !ids.insert(spec.id.to_string()) {
            return Err(FieldError::new(
                format!("{at}.id"),
                format!("duplicate '{}'", spec.id),
            ));
        }
        out.push(doc);
    }
    Ok(out)
}

fn check_endpoint(endpoint: &str) -> Result<(), FieldError> {
    let bad = |r: &str| Err(FieldError::new("endpoint", format!("'{endpoint}' {r}")));
    let Ok(uri) = endpoint.parse::<tonic::codegen::http::Uri>() else {
        return bad("is not a URL");
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return bad("must be an http:// or https:// URL");
    }
    if uri.host().is_none_or(str::is_empty) {
        return bad("has no host");
    }
    Ok(())
}

/// Something that happened to a domain, for the status watchers and delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// Registered or re-registered.
    Registered(DomainRecord),
    /// Heard again (a heartbeat after being unreachable, or its status stream reconnected).
    BackOnline(String),
}

/// Whether maestro's WatchIntentStatus stream to a domain is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    /// Open.
    Up,
    /// Not open since this time (ms since the epoch).
    Down(i64),
}

/// The registry, over one sled tree.
#[derive(Debug, Clone)]
pub struct DomainRegistry {
    /// The database of `tree`, flushed as a whole (with the orders it also holds).
    db: sled::Db,
    tree: sled::Tree,
    events: broadcast::Sender<DomainEvent>,
    unreachable_after_ms: u64,
    /// Status stream liveness per domain (in memory: after a restart every stream is down
    /// since the watcher started).
    streams: Arc<Mutex<HashMap<String, StreamState>>>,
    /// Counts registrations since opening (see [`Self::version`]).
    version: Arc<std::sync::atomic::AtomicU64>,
    /// What each domain's sites have free, as its last heartbeat said (in memory).
    capacity: Arc<Mutex<HashMap<String, Capacity>>>,
    /// The last heartbeat of every registered domain, as stored: read from the records once at
    /// open, then kept with every write of a record. Every roll-up asks for the liveness of the
    /// domains, and decoding every domain's record for it (sites, labels, catalog) was a tenth of
    /// maestro's CPU at 1,000 domains (`docs/performance.md`, scale).
    heard: Arc<Mutex<BTreeMap<String, i64>>>,
}

/// Free resources of a domain's sites, summed over those that reported recently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    /// Thousandths of a core.
    pub free_cpu_millis: u64,
    /// Bytes.
    pub free_memory_bytes: u64,
    /// Sites whose report counts.
    pub sites: u32,
}

impl From<pb::Capacity> for Capacity {
    fn from(c: pb::Capacity) -> Self {
        Self {
            free_cpu_millis: c.free_cpu_millis,
            free_memory_bytes: c.free_memory_bytes,
            sites: c.sites,
        }
    }
}

impl DomainRegistry {
    /// Opens the registry in `db`.
    pub fn open(db: &sled::Db, unreachable_after_ms: u64) -> Result<Self, StoreError> {
        let registry = Self {
            db: db.clone(),
            tree: db.open_tree("domains")?,
            events: broadcast::channel(256).0,
            unreachable_after_ms,
            streams: Arc::default(),
            version: Arc::default(),
            capacity: Arc::default(),
            heard: Arc::default(),
        };
        for record in registry.list()? {
            registry.note_heard(&record);
        }
        Ok(registry)
    }

    fn heard(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i64>> {
        self.heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `record`'s heartbeat for [`Self::health_map`] (the later of two racing writes).
    fn note_heard(&self, record: &DomainRecord) {
        let mut heard = self.heard();
        let at = heard.entry(record.id.clone()).or_insert(i64::MIN);
        *at = (*at).max(record.last_heartbeat_ms);
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.events.subscribe()
    }

    /// Registers or updates a domain; durable before it returns. Counts as a heartbeat.
    /// [`Self::write_registration`], then [`Self::commit_registration`].
    pub async fn register(
        &self,
        reg: DomainRegistration,
        now_ms: i64,
    ) -> Result<DomainRecord, StoreError> {
        let record = self.write_registration(reg, now_ms)?;
        self.commit_registration(record).await
    }

    /// Writes a registration, not durable yet: what else is written to the database before
    /// [`Self::commit_registration`] (the call's audit entry) is made durable by the same flush.
    pub fn write_registration(
        &self,
        reg: DomainRegistration,
        now_ms: i64,
    ) -> Result<DomainRecord, StoreError> {
        let previous = self.get(reg.id.as_str())?;
        let record = DomainRecord {
            id: reg.id.to_string(),
            endpoint: reg.endpoint,
            labels: reg.labels,
            region: reg.region,
            sites: reg.sites.iter().map(ToString::to_string).collect(),
            site_labels: reg.site_labels,
            registered_ms: previous.as_ref().map_or(now_ms, |p| p.registered_ms),
            last_heartbeat_ms: now_ms,
            catalog: reg.catalog,
        };
        self.tree.insert(record.id.as_bytes(), encode(&record))?;
        // What is kept in memory follows the tree at once, as `list` and `get` do: a caller that
        // goes away during the flush drops the commit, and the domain must not stay registered
        // without a liveness (a roll-up would call it unregistered until maestro restarts).
        self.note_heard(&record);
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(record)
    }

    /// Makes a written registration durable, then announces it.
    pub async fn commit_registration(
        &self,
        record: DomainRecord,
    ) -> Result<DomainRecord, StoreError> {
        maestro_common::durable::flush(&self.db).await?;
        let _ = self.events.send(DomainEvent::Registered(record.clone()));
        Ok(record)
    }

    /// Changes whenever a domain registers: what is derived from the records (the offers)
    /// is still current while it stays the same.
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Records a heartbeat; `None` when the domain is not registered.
    pub fn heartbeat(&self, id: &str, now_ms: i64) -> Result<Option<DomainRecord>, StoreError> {
        let Some(mut record) = self.get(id)? else {
            return Ok(None);
        };
        let heartbeat_only = DomainHealth {
            stream_down_since_ms: None,
            ..self.health(&record)
        };
        let was_unreachable = heartbeat_only.unreachable(now_ms);
        record.last_heartbeat_ms = record.last_heartbeat_ms.max(now_ms);
        self.tree.insert(id.as_bytes(), encode(&record))?;
        self.note_heard(&record);
        if was_unreachable {
            let _ = self.events.send(DomainEvent::BackOnline(id.to_string()));
        }
        Ok(Some(record))
    }

    /// The domain `id`.
    pub fn get(&self, id: &str) -> Result<Option<DomainRecord>, StoreError> {
        self.tree
            .get(id.as_bytes())?
            .map(|v| decode(id, &v))
            .transpose()
    }

    /// Every domain, by id.
    pub fn list(&self) -> Result<Vec<DomainRecord>, StoreError> {
        self.tree
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                decode(&String::from_utf8_lossy(&k), &v)
            })
            .collect()
    }

    fn capacities(&self) -> std::sync::MutexGuard<'_, HashMap<String, Capacity>> {
        self.capacity
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records what `id`'s sites have free, from its heartbeat.
    pub fn set_capacity(&self, id: &str, capacity: Capacity) {
        self.capacities().insert(id.to_string(), capacity);
    }

    /// What each domain's sites have free, by domain (absent: not reported since maestro
    /// started).
    pub fn capacity_map(&self) -> std::collections::BTreeMap<String, Capacity> {
        self.capacities()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, StreamState>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A status watcher for `id` starts: its stream counts as down from `now_ms` until it opens
    /// (unless a state is already known).
    pub fn stream_watching(&self, id: &str, now_ms: i64) {
        self.streams()
            .entry(id.to_string())
            .or_insert(StreamState::Down(now_ms));
    }

    /// The status stream of `id` opened at `now_ms`; announces [`DomainEvent::BackOnline`] when
    /// it had been down long enough to make the domain unreachable.
    pub fn stream_opened(&self, id: &str, now_ms: i64) {
        let previous = self.streams().insert(id.to_string(), StreamState::Up);
        let after = i64::try_from(self.unreachable_after_ms).unwrap_or(i64::MAX);
        if matches!(previous, Some(StreamState::Down(t)) if now_ms - t > after) {
            let _ = self.events.send(DomainEvent::BackOnline(id.to_string()));
        }
    }

    /// The status stream of `id` ended or failed at `now_ms` (an earlier loss is kept).
    pub fn stream_lost(&self, id: &str, now_ms: i64) {
        let mut streams = self.streams();
        let state = streams
            .entry(id.to_string())
            .or_insert(StreamState::Down(now_ms));
        if *state == StreamState::Up {
            *state = StreamState::Down(now_ms);
        }
    }

    /// The liveness of `record`: its heartbeat and its status stream.
    pub fn health(&self, record: &DomainRecord) -> DomainHealth {
        self.health_at(&record.id, record.last_heartbeat_ms, &self.streams())
    }

    fn health_at(
        &self,
        id: &str,
        last_heartbeat_ms: i64,
        streams: &HashMap<String, StreamState>,
    ) -> DomainHealth {
        let stream_down_since_ms = match streams.get(id) {
            Some(StreamState::Down(t)) => Some(*t),
            Some(StreamState::Up) | None => None,
        };
        DomainHealth {
            last_heartbeat_ms,
            unreachable_after_ms: self.unreachable_after_ms,
            stream_down_since_ms,
        }
    }

    /// Liveness of every registered domain, by id (from memory: no record is read).
    pub fn health_map(&self) -> Result<BTreeMap<String, DomainHealth>, StoreError> {
        let heard = self.heard().clone();
        let streams = self.streams();
        Ok(heard
            .into_iter()
            .map(|(id, at)| {
                let health = self.health_at(&id, at, &streams);
                (id, health)
            })
            .collect())
    }

    /// The proto view of `record` at `now_ms`.
    pub fn to_proto(&self, record: &DomainRecord, now_ms: i64) -> pb::Domain {
        let health = self.health(record);
        let state = if health.unreachable(now_ms) {
            pb::DomainState::Unreachable
        } else {
            pb::DomainState::Ready
        };
        pb::Domain {
            id: record.id.clone(),
            endpoint: record.endpoint.clone(),
            labels: record.labels.clone().into_iter().collect(),
            region: record.region.clone(),
            sites: record.sites.clone(),
            state: state as i32,
            last_heartbeat: Some(timestamp(record.last_heartbeat_ms)),
            heartbeat_age_seconds: health.age_ms(now_ms) / 1000,
            publishes_catalog: record.catalog.is_some(),
            offers: Vec::new(),
            capacity: self.capacities().get(&record.id).map(|c| pb::Capacity {
                free_cpu_millis: c.free_cpu_millis,
                free_memory_bytes: c.free_memory_bytes,
                sites: c.sites,
            }),
            site_labels: record
                .site_labels
                .iter()
                .map(|(s, l)| {
                    let labels = l.clone().into_iter().collect();
                    (s.clone(), pb::SiteLabels { labels })
                })
                .collect(),
        }
    }
}

fn encode(r: &DomainRecord) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_default()
}

fn decode(key: &str, v: &[u8]) -> Result<DomainRecord, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        key: format!("domains/{key}"),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str, endpoint: &str, sites: &[&str]) -> pb::RegisterDomainRequest {
        pb::RegisterDomainRequest {
            id: id.into(),
            endpoint: endpoint.into(),
            sites: sites.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn validates_registration() {
        assert!(DomainRegistration::try_from(req("north", "http://127.0.0.1:1", &["s1"])).is_ok());
        let field =
            |r: pb::RegisterDomainRequest| DomainRegistration::try_from(r).unwrap_err().field;
        assert_eq!(field(req("a/b", "http://x", &[])), "id");
        assert_eq!(field(req("n", "ftp://x", &[])), "endpoint");
        assert_eq!(field(req("n", "not a url", &[])), "endpoint");
        assert_eq!(field(req("n", "http://x", &["ok", ".."])), "sites[1]");
        assert_eq!(field(req("n", "http://x\u{1b}[2J", &[])), "endpoint");
        let long = format!("http://{}", "x".repeat(MAX_LINE_BYTES));
        assert_eq!(field(req("n", &long, &[])), "endpoint");
        let mut labelled = req("n", "http://x", &[]);
        labelled.labels.insert("tier".into(), "edge\u{7}".into());
        assert_eq!(field(labelled), "labels[\"tier\"]");
        let mut region = req("n", "http://x", &[]);
        region.region = "eu\n".into();
        assert_eq!(field(region), "region");
        let many: Vec<String> = (0..=MAX_SITES).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(field(req("n", "http://x", &many)), "sites");
    }

    #[tokio::test]
    async fn a_registration_whose_caller_went_away_during_its_flush_has_its_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let reg = DomainRegistry::open(&db, 1000).unwrap();
        let r = DomainRegistration::try_from(req("south", "http://127.0.0.1:1", &["s1"])).unwrap();
        let mut call = Box::pin(reg.register(r, 10_000));
        assert!(
            futures::poll!(&mut call).is_pending(),
            "not done at the first poll"
        );
        // The caller goes away: the handler's future is dropped while the flush runs.
        drop(call);
        assert!(reg.get("south").unwrap().is_some(), "the record is stored");
        let health = reg.health_map().unwrap();
        assert_eq!(
            health.get("south").map(|h| h.last_heard_ms(10_000)),
            Some(10_000),
            "a stored domain has its liveness: {health:?}"
        );
    }

    #[tokio::test]
    async fn register_is_idempotent_and_heartbeat_tracks_age() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let reg = DomainRegistry::open(&db, 1000).unwrap();
        let r = DomainRegistration::try_from(req("north", "http://127.0.0.1:1", &["s1"])).unwrap();
        let a = reg.register(r.clone(), 10_000).await.unwrap();
        let b = reg.register(r, 11_000).await.unwrap();
        assert_eq!(a.registered_ms, b.registered_ms);
        assert_eq!(reg.list().unwrap().len(), 1);
        let p = reg.to_proto(&b, 13_500);
        assert_eq!(p.state, pb::DomainState::Unreachable as i32);
        assert_eq!(p.heartbeat_age_seconds, 2);
        let mut events = reg.subscribe();
        assert!(reg.heartbeat("north", 13_500).unwrap().is_some());
        assert_eq!(
            events.try_recv().unwrap(),
            DomainEvent::BackOnline("north".into())
        );
        assert_eq!(
            reg.to_proto(&reg.get("north").unwrap().unwrap(), 13_600)
                .state,
            pb::DomainState::Ready as i32
        );
        assert!(reg.heartbeat("south", 1).unwrap().is_none());
    }

    #[tokio::test]
    async fn the_health_map_follows_every_write_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let from_records = |reg: &DomainRegistry| -> BTreeMap<String, DomainHealth> {
            let list = reg.list().unwrap();
            list.iter().map(|d| (d.id.clone(), reg.health(d))).collect()
        };
        {
            let db = sled::open(dir.path()).unwrap();
            let reg = DomainRegistry::open(&db, 1000).unwrap();
            assert!(reg.health_map().unwrap().is_empty());
            for (id, at) in [("north", 10_000), ("south", 11_000)] {
                let r = DomainRegistration::try_from(req(id, "http://127.0.0.1:1", &[])).unwrap();
                reg.register(r, at).await.unwrap();
            }
            reg.heartbeat("north", 15_000).unwrap();
            // An older heartbeat does not move the last one back; an unknown domain adds nothing.
            reg.heartbeat("north", 12_000).unwrap();
            assert_eq!(reg.heartbeat("west", 16_000).unwrap(), None);
            reg.stream_watching("south", 13_000);
            let map = reg.health_map().unwrap();
            assert_eq!(map, from_records(&reg));
            assert_eq!(map["north"].last_heartbeat_ms, 15_000);
            assert_eq!(map["south"].stream_down_since_ms, Some(13_000));
            db.flush().unwrap();
        }
        // As after a restart (sled lets go of its lock on its own threads).
        let db = maestro_common::durable::open(dir.path()).unwrap();
        let reopened = DomainRegistry::open(&db, 1000).unwrap();
        let map = reopened.health_map().unwrap();
        assert_eq!(map, from_records(&reopened));
        assert_eq!(
            map.iter()
                .map(|(id, h)| (id.as_str(), h.last_heartbeat_ms))
                .collect::<Vec<_>>(),
            [("north", 15_000), ("south", 11_000)]
        );
    }

    #[tokio::test]
    async fn a_status_stream_down_longer_than_the_threshold_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let reg = DomainRegistry::open(&db, 1000).unwrap();
        let r = DomainRegistration::try_from(req("north", "http://127.0.0.1:1", &[])).unwrap();
        let rec = reg.register(r, 10_000).await.unwrap();
        let mut events = reg.subscribe();
        // Heartbeats are always fresh here: only the stream decides.
        let at = |now: i64| DomainHealth {
            last_heartbeat_ms: now,
            ..reg.health(&rec)
        };
        reg.stream_watching("north", 10_000);
        assert!(!at(11_000).unreachable(11_000), "within the threshold");
        assert!(at(11_001).unreachable(11_001), "never opened for too long");
        reg.stream_opened("north", 11_001);
        assert_eq!(
            events.try_recv().unwrap(),
            DomainEvent::BackOnline("north".into())
        );
        assert!(!at(20_000).unreachable(20_000));
        reg.stream_lost("north", 20_500);
        reg.stream_lost("north", 20_900);
        assert_eq!(
            reg.health(&rec).stream_down_since_ms,
            Some(20_500),
            "the first loss counts"
        );
        assert!(!at(21_500).unreachable(21_500));
        assert!(at(21_501).unreachable(21_501));
        assert_eq!(at(21_600).last_heard_ms(21_600), 20_500);
        reg.stream_opened("north", 21_000);
        assert!(
            events.try_recv().is_err(),
            "not down long enough to announce"
        );
        assert!(!at(30_000).unreachable(30_000));
    }
}
