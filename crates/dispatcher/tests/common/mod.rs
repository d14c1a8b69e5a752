//! A dispatcher on a real embedded bus and state store, with sinks on 127.0.0.1.

#![allow(dead_code, reason = "shared by several test crates; each uses a part")]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use pulsegate_bus::embedded::{EmbeddedBus, EmbeddedConfig};
use pulsegate_bus::{partition_for, Bus, Outgoing, TopicSpec};
use pulsegate_dispatcher::{generate_secret, DispatcherConfig};
use pulsegate_schema::{topics, DeadLetter, Destination, EventType, NormalizedEvent};
use pulsegate_state::StateStore;
use pulsegate_testkit::sink::ReceivedRequest;
use serde_json::value::RawValue;
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod s3;

pub const EVENT_PARTITIONS: u32 = 4;
const SEED_KEY: &str = "seed";

pub struct Harness {
    _dir: tempfile::TempDir,
    pub embedded: EmbeddedBus,
    pub bus: Arc<dyn Bus>,
    pub state: Arc<StateStore>,
    running: Option<(CancellationToken, JoinHandle<()>)>,
}

/// A short schedule for tests.
pub fn config(schedule_ms: &[u64]) -> DispatcherConfig {
    DispatcherConfig {
        timeout: Duration::from_secs(10),
        retry_schedule: schedule_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect(),
        allow_private_networks: true,
        ..DispatcherConfig::default()
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let embedded = EmbeddedBus::open(EmbeddedConfig::new(dir.path())).unwrap();
        let bus: Arc<dyn Bus> = Arc::new(embedded.clone());
        bus.ensure_topic(&TopicSpec::new(topics::EVENTS, EVENT_PARTITIONS))
            .await
            .unwrap();
        bus.ensure_topic(&TopicSpec::new(topics::DEAD_LETTERS, 1))
            .await
            .unwrap();
        // A record no one will read: lets `wait_subscribed` see a group's first commit.
        bus.append(topics::EVENTS, Outgoing::new(SEED_KEY, "{}"))
            .await
            .unwrap();
        let state = StateStore::start(bus.clone(), CancellationToken::new())
            .await
            .unwrap();
        Self {
            _dir: dir,
            embedded,
            bus,
            state,
            running: None,
        }
    }

    pub async fn add_destination(&self, id: &str, url: &str, types: &[&str]) -> Destination {
        let d = Destination {
            id: id.into(),
            url: url.into(),
            secret: generate_secret(),
            secret_set_at_ms: pulsegate_schema::now_ms(),
            previous_secret: None,
            previous_secret_until_ms: 0,
            event_types: types.iter().map(|t| t.to_string()).collect(),
            providers: vec![],
            ordered: false,
            failing_since_ms: None,
            disabled_reason: None,
            enabled: true,
            dev_id: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            kafka_auth: None,
            kafka_ca_pem: None,
            claim_check: None,
            file_entry: None,
        };
        self.state.put_destination(&d).await.unwrap();
        d
    }

    pub fn start(&mut self, cfg: DispatcherConfig) {
        assert!(self.running.is_none());
        let stop = CancellationToken::new();
        let (bus, state, s) = (self.bus.clone(), self.state.clone(), stop.clone());
        let task = tokio::spawn(async move {
            pulsegate_dispatcher::run(bus, state, cfg, s).await.unwrap();
        });
        self.running = Some((stop, task));
    }

    /// Graceful stop: returns once the dispatcher has committed and exited.
    pub async fn stop(&mut self) {
        let (stop, task) = self.running.take().expect("running");
        stop.cancel();
        tokio::time::timeout(secs(30), task)
            .await
            .expect("dispatcher stops in time")
            .unwrap();
    }

    /// Waits until `destination`'s worker has joined its group (it starts at the end
    /// of the log, so events appended earlier are not its to deliver).
    pub async fn wait_subscribed(&self, destination: &str) {
        let group = format!("dispatch.{destination}");
        let p = partition_for(SEED_KEY.as_bytes(), EVENT_PARTITIONS) as usize;
        for _ in 0..400 {
            let committed = self
                .embedded
                .committed_offsets(topics::EVENTS, &group)
                .unwrap();
            if committed[p] >= 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("worker for {destination} never subscribed");
    }

    pub async fn publish(&self, events: &[TestEvent]) {
        for e in events {
            self.bus
                .append(
                    topics::EVENTS,
                    Outgoing::new(e.user_id.clone(), e.payload()),
                )
                .await
                .unwrap();
        }
    }

    pub async fn dead_letters(&self, want: usize, timeout: Duration) -> Vec<DeadLetter> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut c = self
                .bus
                .read_from_start(topics::DEAD_LETTERS)
                .await
                .unwrap();
            let mut out = Vec::new();
            while !c.caught_up() {
                for r in c.poll(1000, Duration::from_millis(100)).await.unwrap() {
                    out.push(serde_json::from_slice(&r.payload).unwrap());
                }
            }
            if out.len() >= want || tokio::time::Instant::now() >= deadline {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An event as the normalizer would publish it.
#[derive(Clone, Debug)]
pub struct TestEvent {
    pub event_id: String,
    pub event_type: String,
    pub user_id: String,
    /// The customer body, with deliberately odd spacing: it must arrive byte for byte.
    pub body: String,
    /// The developer account owning the event's user (None = operator-owned).
    pub dev_id: Option<String>,
}

impl TestEvent {
    pub fn new(event_id: &str, event_type: &str) -> Self {
        let user_id = format!("user-{}", event_id.len() % 3);
        let body = format!(
            r#"{{"type": "{event_type}",  "user": {{"user_id": "{user_id}", "provider": "STRAVA"}}, "data": [{{"n": "{event_id}", "x": 1.50}}], "version": "2022-03-16"}}"#
        );
        Self {
            event_id: event_id.into(),
            event_type: event_type.into(),
            user_id,
            body,
            dev_id: None,
        }
    }

    pub fn reference(&self) -> String {
        format!("ref-{}", self.event_id)
    }

    pub fn payload(&self) -> Vec<u8> {
        let event_type: EventType =
            serde_json::from_value(serde_json::Value::String(self.event_type.clone())).unwrap();
        let e = NormalizedEvent {
            event_id: self.event_id.clone(),
            event_type,
            user_id: self.user_id.clone(),
            reference: self.reference(),
            received_at_ms: pulsegate_schema::now_ms(),
            body: RawValue::from_string(self.body.clone()).unwrap(),
            dev_id: self.dev_id.clone(),
        };
        serde_json::to_vec(&e).unwrap()
    }
}

pub fn events(prefix: &str, event_type: &str, n: usize) -> Vec<TestEvent> {
    (0..n)
        .map(|i| TestEvent::new(&format!("{prefix}{i}"), event_type))
        .collect()
}

/// The event id a delivered body carries (`data[0].n`).
pub fn event_id_of(r: &ReceivedRequest) -> String {
    r.json()["data"][0]["n"].as_str().unwrap().to_string()
}

/// Checks both signatures with an implementation independent of the dispatcher's: the
/// only ones, made with `secret`.
pub fn verify_signatures(r: &ReceivedRequest, secret: &str) {
    let (terra, standard) = expected_signatures(r, secret);
    let (_, v1s) = terra_parts(r);
    assert_eq!(v1s, [terra], "terra-signature");
    assert_eq!(
        r.header("webhook-signature").unwrap(),
        standard,
        "webhook-signature"
    );
}

/// One of several signatures of each scheme (a rotation's overlap) is `secret`'s.
pub fn verify_signed_among_others(r: &ReceivedRequest, secret: &str) {
    let (terra, standard) = expected_signatures(r, secret);
    let (_, v1s) = terra_parts(r);
    assert!(v1s.contains(&terra), "terra-signature: none by this secret");
    assert!(
        r.header("webhook-signature")
            .unwrap()
            .split(' ')
            .any(|s| s == standard),
        "webhook-signature: none by this secret"
    );
}

/// terra-signature: `t=<t>,v1=<sig>[,v1=<sig>…]`.
fn terra_parts(r: &ReceivedRequest) -> (String, Vec<String>) {
    let terra = r
        .header("terra-signature")
        .expect("missing terra-signature");
    let mut t = None;
    let mut v1s = Vec::new();
    for part in terra.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => v1s.push(v.to_string()),
            _ => panic!("unexpected terra-signature part {part:?}"),
        }
    }
    (t.expect("t="), v1s)
}

/// What `secret` signs this delivery with: the terra `v1` (hex HMAC(whole secret,
/// "<t>.<body>")) and the Standard Webhooks signature (`v1,<base64 HMAC(decoded secret,
/// "<id>.<ts>.<body>")>`), after checking both schemes sign the same recent time.
fn expected_signatures(r: &ReceivedRequest, secret: &str) -> (String, String) {
    type H = Hmac<Sha256>;
    let header = |n: &str| {
        r.header(n)
            .unwrap_or_else(|| panic!("missing {n}"))
            .to_string()
    };
    let (t, _) = terra_parts(r);
    let mut mac = H::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&r.body);
    let terra = hex::encode(mac.finalize().into_bytes());

    let id = header("webhook-id");
    let ts = header("webhook-timestamp");
    assert_eq!(ts, t, "both schemes sign the same attempt time");
    let now = pulsegate_schema::now_ms() / 1000;
    let ts_n: u64 = ts.parse().unwrap();
    assert!(
        ts_n + 300 >= now && ts_n <= now + 300,
        "timestamp within 5 minutes"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap();
    let mut mac = H::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let standard = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    (terra, standard)
}

pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
