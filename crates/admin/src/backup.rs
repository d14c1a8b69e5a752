//! `POST /v1/admin/backup`: a consistent point-in-time backup of the embedded log,
//! streamed as the answer (the archive format is `pulsegate_bus::embedded::backup`'s).
//! Values are copied as stored, sealed: the archive reveals nothing without the key
//! file, which it never contains. On Kafka: 409, pointing to Kafka's own tooling.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pulsegate_bus::BusError;

use crate::{error, AdminState};

/// Chunks the archive is streamed in.
const CHUNK: usize = 256 * 1024;

pub(crate) async fn backup(State(s): State<AdminState>) -> Response {
    let source = match s.bus.backup().await {
        Ok(source) => source,
        Err(BusError::Unsupported(m)) => {
            return error(
                StatusCode::CONFLICT,
                &format!(
                    "{m}: pulsegate backs up only its embedded log. On Kafka, back up the \
                     topics with Kafka's own tooling (MirrorMaker 2, your provider's \
                     snapshots); records stay sealed, keep the key file apart"
                ),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "backup not started");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("backup not started: {e}"),
            );
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let started = std::time::Instant::now();
        match source.write_to(&mut out) {
            Ok(summary) => {
                metrics::counter!("pulsegate_backups_total", "outcome" => "ok").increment(1);
                tracing::info!(
                    records = summary.records,
                    offsets = summary.offsets,
                    topics = summary.topics.len(),
                    secs = started.elapsed().as_secs_f64(),
                    "backup streamed"
                );
            }
            Err(e) => {
                metrics::counter!("pulsegate_backups_total", "outcome" => "failed").increment(1);
                tracing::error!(error = %e, "backup broken off");
                // The client sees the body end in an error, and the archive has no end
                // entry: it cannot be taken for complete.
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let name = format!("pulsegate-{}.pgbackup", pulsegate_schema::now_ms());
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Hands the archive to the response body in chunks; fails once the client is gone.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
