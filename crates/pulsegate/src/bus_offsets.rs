//! The log's offsets as `GET /v1/admin/topics` shows them ([`TopicOffsets`]): the bus
//! reports end and committed offsets (bytes-level facts); which stage reads which
//! topic with which consumer group is known here, where every stage is visible.

use std::sync::Arc;

use async_trait::async_trait;
use pulsegate_admin::{GroupReading, TopicOffsets, TopicReading};
use pulsegate_bus::embedded::EmbeddedBus;
use pulsegate_bus::kafka::KafkaBus;
use pulsegate_bus::BusError;
use pulsegate_schema::topics;

/// The concrete bus under the sealing layer (offsets are not sealed).
#[derive(Clone)]
pub(crate) enum BusOffsets {
    Embedded(Arc<EmbeddedBus>),
    Kafka(KafkaBus),
}

/// Retry tiers probed past the last configured one are absent; this bounds the probe.
const MAX_RETRY_TIERS: usize = 32;

impl BusOffsets {
    /// End offsets of `topic`; `None` if it does not exist.
    async fn ends(&self, topic: &str) -> Result<Option<Vec<u64>>, BusError> {
        let ends = match self {
            BusOffsets::Embedded(b) => b.end_offsets(topic),
            BusOffsets::Kafka(b) => b.end_offsets(topic).await,
        };
        match ends {
            Ok(e) => Ok(Some(e)),
            Err(BusError::UnknownTopic(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn committed(&self, topic: &str, group: &str) -> Result<Vec<Option<u64>>, BusError> {
        match self {
            // The embedded log answers 0 for a partition the group never committed.
            BusOffsets::Embedded(b) => Ok(b
                .committed_offsets(topic, group)?
                .into_iter()
                .map(Some)
                .collect()),
            BusOffsets::Kafka(b) => b.committed_offsets(topic, group).await,
        }
    }

    async fn reading(
        &self,
        topic: &str,
        groups: Vec<String>,
    ) -> Result<Option<TopicReading>, BusError> {
        let Some(end_offsets) = self.ends(topic).await? else {
            return Ok(None);
        };
        let mut readings = Vec::with_capacity(groups.len());
        for group in groups {
            let committed = self.committed(topic, &group).await?;
            readings.push(GroupReading { group, committed });
        }
        Ok(Some(TopicReading {
            topic: topic.to_string(),
            end_offsets,
            groups: readings,
        }))
    }
}

#[async_trait]
impl TopicOffsets for BusOffsets {
    async fn read(&self, destinations: &[String]) -> Result<Vec<TopicReading>, String> {
        // The topics and the groups of the stages that consume them.
        let mut wanted: Vec<(String, Vec<String>)> = vec![
            (
                topics::RAW.into(),
                vec![pulsegate_normalizer::GROUP.to_string()],
            ),
            (
                topics::EVENTS.into(),
                destinations
                    .iter()
                    .map(|d| pulsegate_dispatcher::group_for(d))
                    .collect(),
            ),
        ];
        // The dispatcher's tiers are numbered from 0, each read by its own group
        // (`dispatcher::retry::run_tier`); they exist once a dispatcher ran.
        for tier in 0..MAX_RETRY_TIERS {
            let topic = topics::retry(tier);
            if self
                .ends(&topic)
                .await
                .map_err(|e| e.to_string())?
                .is_none()
            {
                break;
            }
            wanted.push((topic, vec![format!("dispatch.retry.{tier}")]));
        }
        wanted.extend([
            (topics::DEAD_LETTERS.into(), vec![]),
            (
                topics::BACKFILL.into(),
                vec![pulsegate_normalizer::backfill::GROUP.to_string()],
            ),
            (
                pulsegate_normalizer::poll::TOPIC.into(),
                vec![pulsegate_normalizer::poll::GROUP.to_string()],
            ),
            (topics::DELIVERY_HISTORY.into(), vec![]),
            (topics::STATE.into(), vec![]),
        ]);
        let mut out = Vec::with_capacity(wanted.len());
        for (topic, groups) in wanted {
            if let Some(r) = self
                .reading(&topic, groups)
                .await
                .map_err(|e| e.to_string())?
            {
                out.push(r);
            }
        }
        Ok(out)
    }
}
