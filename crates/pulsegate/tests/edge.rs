//! The public edge as an attacker meets it: slowloris connections, slow and oversized
//! bodies, admin routes looked for on the public listener, example and guessed admin
//! tokens. The real `pulsegate serve` process on 127.0.0.1.

#![allow(
    clippy::unwrap_used,
    reason = "test code: allow-unwrap-in-tests covers #[test] fns, not the helpers they share"
)]

mod support;

use std::time::{Duration, Instant};

use pulsegate_testkit::strava::MockStrava;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Replaces `from` by `to` in the process's config file (before it starts).
fn edit_config(pg: &Pulsegate, from: &str, to: &str) {
    let text = std::fs::read_to_string(pg.config_path()).unwrap();
    assert!(text.contains(from), "{from} not in the config");
    std::fs::write(pg.config_path(), text.replacen(from, to, 1)).unwrap();
}

/// `[server]` settings added to the test config.
fn server_settings(pg: &Pulsegate, settings: &str) {
    edit_config(pg, "[server]\n", &format!("[server]\n{settings}\n"));
}

async fn healthz_within(pg: &Pulsegate, within: Duration) -> Result<u16, String> {
    let client = reqwest::Client::builder().timeout(within).build().unwrap();
    client
        .get(pg.url("/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// Reads until EOF or an error; true if the server closed the connection by `deadline`
/// (past it, only what is already there counts: the inner read is polled first).
async fn closed_by(stream: &mut TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// The status line's code of what the server answered on `stream`, within `within`.
async fn status_within(stream: &mut TcpStream, within: Duration) -> Option<u16> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// 1,000 half-sent requests under a 512 open-file limit: the listener keeps accepting,
/// `/healthz` and a valid Strava push answer within a second, and the half-sent
/// connections are closed once the header timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_starve_nothing_and_are_closed_at_the_header_timeout() {
    let strava = MockStrava::start().await;
    let mut pg = Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), "");
    server_settings(&pg, "header_read_timeout = \"1s\"");
    pg.nofile = Some(512);
    pg.spawn().await;
    // The cap (1024 by default) was fitted under the 512 descriptors.
    assert!(
        pg.logs()
            .contains("server.max_connections lowered to fit the open-file limit"),
        "{}",
        pg.logs()
    );

    let (mut slow, mut failed) = (Vec::new(), 0);
    for _ in 0..1000 {
        // A listener that stopped accepting leaves connects hanging: bounded here.
        let connect = TcpStream::connect(("127.0.0.1", pg.port));
        let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(1), connect).await else {
            failed += 1;
            if failed > 10 {
                break;
            }
            continue;
        };
        // Headers begun, never finished.
        let write = s.write_all(b"POST /v1/ingest/strava HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: 1");
        let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
        slow.push(s);
    }
    assert!(slow.len() >= 900, "{} connections opened", slow.len());

    let started = Instant::now();
    let health = healthz_within(&pg, Duration::from_secs(1)).await;
    assert_eq!(
        health,
        Ok(200),
        "healthz within 1 s: {:?}",
        started.elapsed()
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let status = push(
        &client,
        pg.port,
        strava_event("activity", 1, "create", 7, "{}"),
    )
    .await;
    assert_eq!(status, 200, "push within 1 s: {:?}", started.elapsed());

    // Every half-sent connection is closed by the header timeout (1 s) or evicted.
    let mut open = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    for s in slow.iter_mut() {
        if !closed_by(s, deadline).await {
            open += 1;
        }
    }
    assert_eq!(
        open, 0,
        "half-sent connections still open after the header timeout"
    );
    assert!(
        pg.metric("pulsegate_http_timeouts_total{kind=\"header\"")
            .await
            > 0.0
    );
    assert!(pg.metric("pulsegate_http_connections_shed_total").await > 0.0);
    assert_eq!(healthz_within(&pg, Duration::from_secs(1)).await, Ok(200));
}

/// When every connection under the cap has a request in flight (nothing to evict), a
/// new connection is answered 503 with `Retry-After` at once and closed; once the
/// requests end, new connections are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_with_every_connection_busy_new_ones_get_503_retry_after() {
    let strava = MockStrava::start().await;
    let mut pg = Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), "");
    server_settings(&pg, "max_connections = 20\nbody_read_timeout = \"3s\"");
    pg.spawn().await;
    // The readiness probe's keep-alive connection may still be open: let it go idle
    // (it is evictable, so the 20 below take every slot).
    let strava_path = pg.push_path("strava").await;
    let mut busy = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(("127.0.0.1", pg.port)).await.unwrap();
        // Headers complete, body half sent: a request in flight.
        s.write_all(
            format!(
                "POST {strava_path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: 100\r\n\r\n{{\"a\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        busy.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut s = TcpStream::connect(("127.0.0.1", pg.port)).await.unwrap();
    let _ = s
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 503"), "{text:?}");
    assert!(text.contains("retry-after: 1"), "{text:?}");
    assert!(
        pg.metric("pulsegate_http_connections_shed_total{listener=\"public\",reason=\"full\"")
            .await
            >= 1.0
    );
    // The busy requests end at the body timeout (408); then there is room again.
    for s in busy.iter_mut() {
        assert_eq!(status_within(s, Duration::from_secs(5)).await, Some(408));
    }
    drop(busy);
    let started = Instant::now();
    loop {
        if healthz_within(&pg, Duration::from_secs(1)).await == Ok(200) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no room again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A body that keeps above the minimum rate is read past the initial body timeout: a
/// real Strava push sent at ~1 KB/s for 2.5 s against a 1 s timeout (500 B/s minimum)
/// is accepted, so slow but honest clients are not cut off with the slowloris.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_above_the_minimum_rate_is_read_past_the_initial_timeout() {
    let strava = MockStrava::start().await;
    let mut pg = Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), "");
    server_settings(&pg, "body_read_timeout = \"1s\"\nbody_min_rate = 500");
    pg.spawn().await;
    let path = pg.push_path("strava").await;
    let body = format!(
        "{}{}",
        " ".repeat(2400),
        strava_event("activity", 4242, "create", 7, "{}")
    );
    let mut s = TcpStream::connect(("127.0.0.1", pg.port)).await.unwrap();
    s.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    for piece in body.as_bytes().chunks(100) {
        s.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(2));
    assert_eq!(
        status_within(&mut s, Duration::from_secs(5)).await,
        Some(200)
    );
    assert_eq!(pg.accepted("strava").await, 1.0);
}

/// A body that trickles in is cut off at the body timeout (408); a body declared larger
/// than the route's limit gets 413 before any of it is sent; 20 oversized bodies at
/// once do not grow the process's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_oversized_bodies_are_cut_off_without_buffering() {
    let strava = MockStrava::start().await;
    let mut pg = Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), "");
    server_settings(&pg, "body_read_timeout = \"2s\"");
    pg.spawn().await;

    // 1 GB declared, headers only: refused at once (nothing is read).
    let strava_path = pg.push_path("strava").await;
    for path in [strava_path.as_str(), "/v2/auth/generateWidgetSession"] {
        let mut s = TcpStream::connect(("127.0.0.1", pg.port)).await.unwrap();
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: 1000000000\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(
            status_within(&mut s, Duration::from_secs(1)).await,
            Some(413),
            "{path}"
        );
    }

    // A chunked body trickled in, 10 bytes every 200 ms (forever): 408 at the timeout.
    let mut s = TcpStream::connect(("127.0.0.1", pg.port)).await.unwrap();
    s.write_all(
        format!(
            "POST {strava_path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (mut read, mut write) = s.into_split();
    let trickle = tokio::spawn(async move {
        loop {
            if write.write_all(b"a\r\n          \r\n").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(6), read.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    trickle.abort();
    let head = String::from_utf8_lossy(&got).to_string();
    assert!(head.starts_with("HTTP/1.1 408"), "{head:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        pg.metric("pulsegate_http_timeouts_total{kind=\"body\"")
            .await
            >= 1.0
    );

    // 20 oversized chunked bodies (4 MiB each, no Content-Length) at once: each is cut
    // at the route's limit (4 KiB), so memory does not grow by what they send.
    let pid = pg.pid().unwrap();
    let before = vm_rss_kib(pid);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let port = pg.port;
        let strava_path = strava_path.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(
                format!(
                    "POST {strava_path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                     transfer-encoding: chunked\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
            let (mut read, mut write) = s.into_split();
            let sender = tokio::spawn(async move {
                let mut chunk = b"10000\r\n".to_vec();
                chunk.extend(std::iter::repeat_n(b'a', 0x10000));
                chunk.extend_from_slice(b"\r\n");
                for _ in 0..64 {
                    if write.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match tokio::time::timeout(Duration::from_secs(5), read.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            sender.abort();
            String::from_utf8_lossy(&got).to_string()
        }));
    }
    for t in tasks {
        let head = t.await.unwrap();
        assert!(head.starts_with("HTTP/1.1 413"), "{head:?}");
    }
    let after = vm_rss_kib(pid);
    assert!(
        after < before + 30 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(healthz_within(&pg, Duration::from_secs(1)).await, Ok(200));
}

/// The admin API, its document, the dashboard and `/metrics` answer on the admin
/// listener only; the public one answers 404 for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_and_metrics_are_absent_from_the_public_listener() {
    let strava = MockStrava::start().await;
    let pg = Pulsegate::start(&strava.base_url(), "").await;
    let client = reqwest::Client::new();
    for path in [
        "/v1/admin/connections",
        "/v1/admin/destinations",
        "/v1/admin/openapi.json",
        "/dashboard",
        "/metrics",
    ] {
        let public = client
            .get(pg.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(public.status(), 404, "public {path}");
        let admin = client
            .get(pg.admin_url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200, "admin {path}");
    }
    // Provider routes and health stay public.
    assert_eq!(healthz_within(&pg, Duration::from_secs(1)).await, Ok(200));
    let challenge = client
        .get(pg.url(&format!(
            "{}?hub.mode=subscribe&hub.challenge=c&hub.verify_token={VERIFY_TOKEN}",
            pg.push_path("strava").await
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 200);
}

/// Starts the binary on `pg`'s config and returns (exit code, stderr) if it exits
/// within 10 s; fails if it keeps running.
async fn run_to_exit(pg: &Pulsegate) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pulsegate"))
        .arg("serve")
        .arg("--config")
        .arg(pg.config_path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("pulsegate started with a refused admin token");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_and_short_admin_tokens_refuse_to_start() {
    let strava = MockStrava::start().await;
    for (token, message) in [
        ("change-me-admin-token", "admin.token is an example token"),
        ("test-admin-token", "admin.token is an example token"),
        (
            "short-but-random-Zq81",
            "admin.token is shorter than 32 characters",
        ),
    ] {
        let pg = Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), "");
        edit_config(
            &pg,
            &format!("token = \"{ADMIN_TOKEN}\""),
            &format!("token = \"{token}\""),
        );
        let (code, stderr) = run_to_exit(&pg).await;
        assert_eq!(code, Some(2), "{token}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(message), "{token}: {stderr}");
        assert!(
            !stderr.contains(token),
            "the token is not repeated: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_token_one_is_generated_into_a_private_file() {
    let strava = MockStrava::start().await;
    let mut pg = Pulsegate::configure(&Backend::Embedded, "serve", &strava.base_url(), "");
    edit_config(&pg, &format!("token = \"{ADMIN_TOKEN}\"\n"), "");
    pg.spawn().await;
    let path = pg.dir.path().join("data").join("admin-token");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert!(token.len() >= 32, "{} characters", token.len());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let client = reqwest::Client::new();
    let ok = client
        .get(pg.admin_url("/v1/admin/connections"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let logs = pg.logs();
    assert!(
        logs.contains(&path.display().to_string()),
        "the log says where"
    );
    assert!(!logs.contains(&token), "the token itself is never logged");
    // The same token after a restart.
    pg.kill9();
    pg.spawn().await;
    let again = std::fs::read_to_string(&path).unwrap();
    assert_eq!(again.trim(), token);
    let ok = client
        .get(pg.admin_url("/v1/admin/connections"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_admin_tokens_are_throttled() {
    let strava = MockStrava::start().await;
    let pg = Pulsegate::start(&strava.base_url(), "").await;
    let client = reqwest::Client::new();
    let call = |token: &str| {
        client
            .get(pg.admin_url("/v1/admin/connections"))
            .bearer_auth(token)
            .send()
    };
    for i in 0..10 {
        let r = call(&format!("wrong-{i}")).await.unwrap();
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = call("wrong-again").await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Refused without checking the token, even the right one, until the window ends.
    assert_eq!(call(ADMIN_TOKEN).await.unwrap().status(), 429);
    assert!(pg.metric("pulsegate_admin_auth_throttled_total").await >= 2.0);
}

/// Provider pushes are served outside the router (the edge's fast path); a push path the
/// fast path leaves to the router (a percent-encoded segment, a trailing slash, another
/// method) gets the router's answer, and the two agree on what a push is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_off_the_fast_path_get_the_routers_same_answer() {
    let strava = MockStrava::start().await;
    let pg = Pulsegate::start(&strava.base_url(), "").await;
    pg.connect_athlete(1, "access-1", "refresh-1").await;
    let path = pg.push_path("strava").await;
    let (prefix, token) = path.rsplit_once('/').unwrap();
    // The token's first character percent-encoded: only the router decodes it.
    let encoded = format!("{prefix}/%{:02X}{}", token.as_bytes()[0], &token[1..]);
    let http = reqwest::Client::new();
    let push = |p: String, id: u64| {
        http.post(pg.url(&p))
            .body(strava_event("activity", id, "create", 1, "{}"))
            .send()
    };
    for (p, id, want) in [
        (path.clone(), 1, 200),
        (encoded.clone(), 2, 200),
        (format!("{path}/"), 3, 404),
        (format!("{prefix}/wrong-token"), 4, 404),
        (format!("{prefix}/%77rong-token"), 5, 404),
    ] {
        let resp = push(p.clone(), id).await.unwrap();
        assert_eq!(resp.status(), want, "{p}");
        assert!(resp.headers().contains_key("x-request-id"), "{p}");
    }
    // Both accepted pushes counted as accepted, by the same handler.
    assert_eq!(
        pg.metric("pulsegate_ingest_requests_total{provider=\"strava\",outcome=\"accepted\"")
            .await,
        2.0
    );
    // The handshake (GET) on the same path is the router's.
    let resp = http
        .get(pg.url(&format!(
            "{path}?hub.mode=subscribe&hub.challenge=abc&hub.verify_token=wrong"
        )))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 405, "the push path's GET is routed");
}
