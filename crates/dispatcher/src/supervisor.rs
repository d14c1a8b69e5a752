//! Keeps one worker running per enabled destination.
//!
//! Reconciles on every state change (and once a second, as a safety net): starts
//! workers for new or re-enabled destinations, stops those of deleted or disabled
//! ones, and restarts a worker whose URL, secret or event filter changed (with a fresh
//! breaker: a new URL deserves a fresh start). Workers read the destination from state
//! on every attempt anyway, so a rotated secret applies at once, even mid-restart.
//! Each pass also updates every destination's secret-set gauge
//! ([`crate::metrics::SecretSetGauges`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pulsegate_schema::Secret;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::context::Shared;
use crate::healthcheck;
use crate::metrics::SecretSetGauges;
use crate::worker::run_destination;

#[derive(Clone, Debug, PartialEq)]
struct Fingerprint {
    url: String,
    secret: Secret,
    event_types: Vec<String>,
    ordered: bool,
}

struct Running {
    fingerprint: Fingerprint,
    stop: CancellationToken,
}

pub(crate) struct Supervisor {
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    running: HashMap<String, Running>,
    /// One per destination id: a worker holds it while it runs, so a replacement
    /// starts only after its predecessor has committed and left.
    turns: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    tasks: JoinSet<()>,
    secret_set: SecretSetGauges,
}

impl Supervisor {
    pub fn new(shared: Arc<Shared>, shutdown: CancellationToken) -> Self {
        Self {
            shared,
            shutdown,
            running: HashMap::new(),
            turns: HashMap::new(),
            tasks: JoinSet::new(),
            secret_set: SecretSetGauges::default(),
        }
    }

    /// Runs until shutdown, then waits for every worker to finish and commit.
    pub async fn run(mut self) {
        let mut changes = self.shared.state.changes();
        let mut watching = true;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.reconcile();
            while let Some(done) = self.tasks.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "delivery worker panicked");
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                changed = changes.changed(), if watching => watching = changed.is_ok(),
                _ = tick.tick() => {}
            }
        }
        for r in self.running.values() {
            r.stop.cancel();
        }
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "delivery worker panicked");
            }
        }
    }

    fn reconcile(&mut self) {
        let destinations = self.shared.state.destinations();
        // Here, so a new or rotated secret shows at once, and a deleted one goes.
        self.secret_set.update(&destinations);
        let desired: HashMap<String, Fingerprint> = destinations
            .into_iter()
            .filter(|d| d.enabled)
            .map(|d| {
                let fp = Fingerprint {
                    url: d.url.clone(),
                    secret: d.secret.clone(),
                    event_types: d.event_types.clone(),
                    ordered: d.ordered,
                };
                (d.id.clone(), fp)
            })
            .collect();

        let shared = &self.shared;
        self.running.retain(|id, r| {
            let want = desired.get(id);
            if !r.stop.is_cancelled() && want == Some(&r.fingerprint) {
                return true;
            }
            r.stop.cancel();
            match want {
                None => {
                    tracing::info!(destination = %id, "destination deleted or disabled; stopping its worker");
                    shared.breakers.remove(id);
                    // Its Kafka producer (if any) closes once in-flight attempts end.
                    shared.sinks.kafka.remove(id);
                }
                Some(fp) if fp.url != r.fingerprint.url => {
                    tracing::info!(destination = %id, "destination URL changed; restarting its worker");
                    shared.breakers.remove(id);
                }
                Some(_) => {
                    tracing::info!(destination = %id, "destination changed; restarting its worker");
                }
            }
            false
        });

        for (id, fingerprint) in desired {
            if self.running.contains_key(&id) {
                continue;
            }
            let stop = self.shutdown.child_token();
            let turn = self.turns.entry(id.clone()).or_default().clone();
            self.tasks.spawn(run_destination(
                self.shared.clone(),
                id.clone(),
                stop.clone(),
                turn,
            ));
            self.tasks.spawn(healthcheck::run(
                self.shared.clone(),
                id.clone(),
                stop.clone(),
            ));
            self.running.insert(id, Running { fingerprint, stop });
        }
        // Forget turn locks nobody holds or waits for.
        let running = &self.running;
        self.turns
            .retain(|id, t| running.contains_key(id) || Arc::strong_count(t) > 1);
    }
}
