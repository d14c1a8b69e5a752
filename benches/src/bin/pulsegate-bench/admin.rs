//! Just enough HTTP/1 client for set-up calls (no extra dependency).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::time::{Duration, Instant};

pub struct Client {
    port: u16,
    /// The admin listener (admin API, `/metrics`).
    admin_port: u16,
}

impl Client {
    pub fn new(port: u16, admin_port: u16) -> Self {
        Self { port, admin_port }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<(u16, String)> {
        let port = if path.starts_with("/v1/admin") || path == "/metrics" {
            self.admin_port
        } else {
            self.port
        };
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{port}"))
            .header("authorization", format!("Bearer {}", super::ADMIN_TOKEN))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The push path of `provider` from the admin API (with its path token).
    pub async fn push_path(&self, provider: &str) -> anyhow::Result<String> {
        let (status, text) = self
            .call(
                "GET",
                &format!("/v1/admin/integrations/{provider}/push-url"),
                None,
            )
            .await?;
        anyhow::ensure!(status == 200, "push-url: {status} {text}");
        let v: serde_json::Value = serde_json::from_str(&text)?;
        v["path"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("push-url: no path"))
    }

    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(self.call("GET", "/metrics", None).await?.1)
    }

    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = self.call("GET", "/readyz", None).await {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "pulsegate did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Connects athlete `athlete` of `provider` (`strava`: user id = the athlete number;
    /// `garmin`: [`pulsegate_benches::garmin_user`]).
    pub async fn connect_athlete(&self, provider: &str, athlete: u64) -> anyhow::Result<()> {
        let user = match provider {
            "garmin" => pulsegate_benches::garmin_user(athlete),
            _ => athlete.to_string(),
        };
        let body = format!(
            r#"{{"provider":"{provider}","provider_user_id":"{user}","reference_id":"bench-{athlete}","access_token":"tok-{athlete}","refresh_token":"ref-{athlete}","expires_at":4102444800}}"#
        );
        let (status, text) = self
            .call("POST", "/v1/admin/connections", Some(body))
            .await?;
        anyhow::ensure!(status == 201, "connect athlete {athlete}: {status} {text}");
        Ok(())
    }
}
