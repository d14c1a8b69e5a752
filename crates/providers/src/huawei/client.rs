//! Huawei Health Kit's REST API with the user's token: activity records, sleep health
//! records and daily sampling statistics. Token refresh (at Huawei's OAuth server,
//! client credentials in the form body), retries and metrics come from [`ProviderApi`];
//! the one POST (`sampleSet:polymerize`) goes through the same refresh-once-on-401 rule.

use pulsegate_schema::Connection;

use super::model::{ActivityRecords, HealthRecords, Polymerized};
use super::HuaweiConfig;
use crate::api::{Authorized, OAuthApp, ProviderApi};
use crate::http::form_encode;
use crate::{Ctx, NormalizeError, RetryConfig};

const EP_ACTIVITY_RECORDS: &str = "activity_records";
const EP_HEALTH_RECORDS: &str = "health_records";
const EP_POLYMERIZE: &str = "sample_set_polymerize";
/// Pages of activity records followed for one notification.
const MAX_PAGES: usize = 20;

pub struct HuaweiClient {
    api: ProviderApi,
    api_base: String,
    client_id: String,
}

impl HuaweiClient {
    pub fn new(
        cfg: &HuaweiConfig,
        retry: &RetryConfig,
        limiters: &crate::ratelimit::Limiters,
    ) -> Result<Self, NormalizeError> {
        let oauth = OAuthApp::new(
            &crate::huawei::descriptor::OAUTH,
            cfg.token_url.clone(),
            &cfg.client_id,
            &cfg.client_secret,
        );
        Ok(Self {
            api: ProviderApi::new("huawei", "Huawei", cfg.request_timeout, retry, Some(oauth))?
                .with_rate_limit(limiters, &cfg.api_base, &cfg.rate_limit),
            api_base: cfg.api_base.trim_end_matches('/').to_string(),
            client_id: cfg.client_id.clone(),
        })
    }

    /// `GET /healthkit/v2/activityRecords?startTime=&endTime=` (ms), following
    /// `cursor` while `hasMoreData`. Active and deleted records of every page.
    pub async fn activity_records(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        (start_ms, end_ms): (i64, i64),
    ) -> Result<Authorized<ActivityRecords>, NormalizeError> {
        let (start, end) = (start_ms.to_string(), end_ms.to_string());
        let mut all = ActivityRecords::default();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut q = vec![("startTime", start.as_str()), ("endTime", end.as_str())];
            if let Some(c) = &cursor {
                q.push(("cursor", c.as_str()));
            }
            let url = format!(
                "{}/healthkit/v2/activityRecords?{}",
                self.api_base,
                form_encode(&q)
            );
            let page: ActivityRecords = match self
                .api
                .get_json(conn, ctx, EP_ACTIVITY_RECORDS, &url)
                .await?
            {
                Authorized::Ok(p) => p,
                Authorized::NotFound => return Ok(Authorized::NotFound),
                Authorized::ConnectionError(m) => return Ok(Authorized::ConnectionError(m)),
            };
            all.activity_record.extend(page.activity_record);
            all.deleted_activity_record
                .extend(page.deleted_activity_record);
            match page.cursor.filter(|c| page.has_more_data && !c.is_empty()) {
                Some(c) if cursor.as_deref() != Some(c.as_str()) => cursor = Some(c),
                _ => break,
            }
        }
        Ok(Authorized::Ok(all))
    }

    /// `GET /healthkit/v2/healthRecords?startTime=&endTime=&dataType=` (ns).
    pub async fn health_records(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        (start_ms, end_ms): (i64, i64),
        data_type: &str,
    ) -> Result<Authorized<HealthRecords>, NormalizeError> {
        let start = (start_ms as i128 * 1_000_000).to_string();
        let end = (end_ms as i128 * 1_000_000 + 999_999).to_string();
        let url = format!(
            "{}/healthkit/v2/healthRecords?{}",
            self.api_base,
            form_encode(&[
                ("startTime", start.as_str()),
                ("endTime", end.as_str()),
                ("dataType", data_type),
            ])
        );
        self.api.get_json(conn, ctx, EP_HEALTH_RECORDS, &url).await
    }

    /// `POST /healthkit/v2/sampleSet:polymerize`: statistics of `data_types`
    /// (atomic types, e.g. `com.huawei.continuous.steps.delta`) per day in `time_zone`.
    pub async fn daily_statistics(
        &self,
        conn: &Connection,
        ctx: &Ctx,
        (start_ms, end_ms): (i64, i64),
        data_types: &[String],
        time_zone: &str,
    ) -> Result<Authorized<Polymerized>, NormalizeError> {
        let body = serde_json::json!({
            "polymerizeWith": data_types
                .iter()
                .map(|t| serde_json::json!({ "dataTypeName": t }))
                .collect::<Vec<_>>(),
            "startTime": start_ms,
            "endTime": end_ms,
            "groupByTime": {
                "groupPeriod": { "timeZone": time_zone, "unit": "day", "value": 1 }
            }
        });
        let url = format!("{}/healthkit/v2/sampleSet:polymerize", self.api_base);
        let client_id = [("x-client-id", self.client_id.as_str())];
        let headers: &[(&str, &str)] = if self.client_id.is_empty() {
            &[]
        } else {
            &client_id
        };
        self.api
            .post_json(
                conn,
                ctx,
                EP_POLYMERIZE,
                &url,
                body.to_string().into(),
                headers,
            )
            .await
    }
}
