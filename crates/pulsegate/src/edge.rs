//! The two listeners: public (`[server] listen`) and admin (`[admin] listen`), each
//! with its connection limits (`listener.rs`) and body rules (`limits.rs`).

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::{http, limits, listener};

pub struct Servers {
    public: JoinHandle<()>,
    admin: JoinHandle<()>,
}

impl Servers {
    /// Waits until both listeners have stopped (after the shutdown token fired).
    pub async fn join(self) {
        let _ = self.public.await;
        let _ = self.admin.await;
    }
}

/// Binds both listeners and serves `public` and `admin` on them until `shutdown`.
pub async fn start(
    config: &Config,
    sdk_max_body_bytes: usize,
    public: Router,
    admin: Router,
    shutdown: &CancellationToken,
) -> anyhow::Result<Servers> {
    let public_rules = limits::BodyRules {
        listener: "public",
        read_timeout: config.server.body_read_timeout,
        min_rate: config.server.body_min_rate,
        max_read_timeout: config.server.body_read_timeout_max,
        default_limit: config.server.max_body_bytes,
        // Provider pushes: the ingest handler checks each provider's own limit.
        routes: vec![
            ("/v1/ingest/sdk/", Some(sdk_max_body_bytes as u64)),
            ("/v1/ingest/", None),
        ],
    };
    let admin_rules = limits::BodyRules {
        listener: "admin",
        routes: Vec::new(),
        ..public_rules.clone()
    };
    let public = public
        .fallback(http::not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(public_rules),
            limits::limit_bodies,
        ));
    let admin = admin
        .fallback(http::not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(admin_rules),
            limits::limit_bodies,
        ));

    let public_listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;
    let admin_listener = tokio::net::TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("admin.listen: cannot listen on {}", config.admin.listen))?;
    let public_limits = listener::Limits {
        max_connections: listener::fit_to_fd_limit(
            config.server.max_connections,
            config.admin.max_connections,
        ),
        header_read_timeout: config.server.header_read_timeout,
        idle_timeout: config.server.idle_timeout,
    };
    let admin_limits = listener::Limits {
        max_connections: config.admin.max_connections,
        ..public_limits
    };
    tracing::info!(
        listen = %public_listener.local_addr()?,
        admin_listen = %admin_listener.local_addr()?,
        max_connections = public_limits.max_connections,
        "listening"
    );
    Ok(Servers {
        public: tokio::spawn(listener::serve(
            public_listener,
            public,
            public_limits,
            "public",
            shutdown.clone(),
        )),
        admin: tokio::spawn(listener::serve(
            admin_listener,
            admin,
            admin_limits,
            "admin",
            shutdown.clone(),
        )),
    })
}
