//! The pipeline's baseline: a bare relay doing the same HTTP exchanges as pulsegate's
//! pipeline (push in, provider fetch, delivery out) and nothing else.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

/// Requests a bare relay has in flight (fetch + delivery) before it holds back the
/// answer to the next push: pulsegate's normalizer and dispatcher likewise work on many
/// events at once, and the closed loop must not outrun the deliveries without bound.
const RELAY_IN_FLIGHT: usize = 256;

/// The physical limit of the pipeline on this machine: a bare hyper server that takes
/// each push, answers it, then (Strava: `fetch_base` set) fetches the activity named by
/// the push's `object_id` from the mock API and POSTs what it got, or (Garmin) the push's
/// own body, to `deliver_url`, through hyper-util's pooled client (the one pulsegate
/// uses). The same HTTP exchanges as pulsegate's pipeline and nothing else: no storage,
/// no verification, no mapping, no signing.
#[allow(
    clippy::print_stderr,
    reason = "a child of the load tool: a failed relay shows on the run's console (the run then stops short of its count)"
)]
pub async fn bare_relay(
    listener: tokio::net::TcpListener,
    fetch_base: Option<String>,
    deliver_url: String,
) -> anyhow::Result<()> {
    use hyper::service::service_fn;
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(RELAY_IN_FLIGHT)
            .build(connector);
    let permits = Arc::new(tokio::sync::Semaphore::new(RELAY_IN_FLIGHT));
    let fetch_base: Option<Arc<str>> = fetch_base.map(Into::into);
    let deliver_url: Arc<str> = deliver_url.into();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (client, permits) = (client.clone(), permits.clone());
        let (fetch_base, deliver_url) = (fetch_base.clone(), deliver_url.clone());
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (client, permits) = (client.clone(), permits.clone());
                let (fetch_base, deliver_url) = (fetch_base.clone(), deliver_url.clone());
                async move {
                    let body = match req.into_body().collect().await {
                        Ok(b) => b.to_bytes(),
                        Err(_) => Bytes::new(),
                    };
                    let permit = permits.acquire_owned().await.expect("never closed");
                    tokio::spawn(async move {
                        if let Err(e) =
                            relay_one(&client, fetch_base.as_deref(), &deliver_url, body).await
                        {
                            eprintln!("bare relay: {e:#}");
                        }
                        drop(permit);
                    });
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

async fn relay_one(
    client: &hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    fetch_base: Option<&str>,
    deliver_url: &str,
    push: Bytes,
) -> anyhow::Result<()> {
    let data = match fetch_base {
        Some(base) => {
            let id = serde_json::from_slice::<serde_json::Value>(&push)?["object_id"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("a push without object_id"))?;
            let req = Request::get(format!("{base}/api/v3/activities/{id}"))
                .header("authorization", "Bearer bare-relay")
                .body(Full::new(Bytes::new()))?;
            let res = client.request(req).await?;
            anyhow::ensure!(res.status().is_success(), "fetch: {}", res.status());
            res.into_body().collect().await?.to_bytes()
        }
        None => push,
    };
    let req = Request::post(deliver_url)
        .header("content-type", "application/json")
        .body(Full::new(data))?;
    let res = client.request(req).await?;
    anyhow::ensure!(res.status().is_success(), "delivery: {}", res.status());
    res.into_body().collect().await?;
    Ok(())
}
