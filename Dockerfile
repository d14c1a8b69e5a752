# syntax=docker/dockerfile:1
#
# pulsegate container image.
#   docker build -t pulsegate:local .
#   docker run --rm -p 127.0.0.1:8080:8080 -v pulsegate-data:/var/lib/pulsegate pulsegate:local
#
# The image ships deploy/pulsegate.embedded.toml as /etc/pulsegate/pulsegate.toml (single
# node, embedded log in /var/lib/pulsegate); mount another file there, or override single
# keys with PULSEGATE_<SECTION>__<KEY> environment variables.
# Needs BuildKit (the default builder since Docker 23) for the cache mounts below.

############################ builder ############################
FROM rust:1-bookworm AS builder

# rdkafka-sys builds the bundled librdkafka with its own mklove ./configure + make
# (no cmake), with the libz feature: a C/C++ toolchain, make, pkg-config and zlib.
# libssl-dev is there for rdkafka's `ssl` feature should it be enabled (openssl-sys);
# the runtime stage has libssl3 and zlib1g either way (pulled in by curl).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential pkg-config zlib1g-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Cargo loads the whole workspace to build one package: every member's manifest (and
# sources) must be present. Copy only what the build reads, so edits to docs or
# deploy/ do not invalidate this layer.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY benches ./benches

# Registry, git checkouts and target/ live in BuildKit cache mounts: rebuilds after a
# code change recompile only the touched crates. The binary is copied out of the
# cache mount in the same step. Debug info (profile.release debug = 1: line tables,
# for backtraces and profiling) is kept but compressed.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p pulsegate \
 && mkdir -p /out \
 && objcopy --compress-debug-sections=zlib target/release/pulsegate /out/pulsegate

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

# ca-certificates: TLS to provider APIs and customer webhooks.
# curl: the container healthcheck (GET /healthz); it also brings libssl3 and zlib1g.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# Unprivileged user with a fixed uid/gid, so volume ownership is predictable.
RUN groupadd --system --gid 10001 pulsegate \
 && useradd --system --uid 10001 --gid pulsegate \
        --home-dir /var/lib/pulsegate --no-create-home --shell /usr/sbin/nologin pulsegate \
 && mkdir -p /var/lib/pulsegate /etc/pulsegate/keys \
 && chown pulsegate:pulsegate /var/lib/pulsegate /etc/pulsegate/keys \
 && chmod 0750 /var/lib/pulsegate \
 && chmod 0700 /etc/pulsegate/keys

COPY --from=builder /out/pulsegate /usr/local/bin/pulsegate
COPY deploy/pulsegate.embedded.toml /etc/pulsegate/pulsegate.toml

# The embedded log (bus.kind = "embedded") lives here; unused with Kafka.
VOLUME ["/var/lib/pulsegate"]
# The encryption key, generated at first start unless PULSEGATE_SECURITY__ENCRYPTION_KEY
# is set: outside the data volume, so a copy of that volume alone reveals nothing.
# Mount a separate volume here (and back it up apart from the data).
ENV PULSEGATE_SECURITY__KEY_FILE=/etc/pulsegate/keys/pulsegate.key
VOLUME ["/etc/pulsegate/keys"]
WORKDIR /var/lib/pulsegate
USER pulsegate:pulsegate

# One listener: provider callbacks, admin API, /metrics, /healthz, /readyz.
EXPOSE 8080

# pulsegate drains in-flight work on SIGTERM (docker stop's default signal).
ENTRYPOINT ["pulsegate"]
CMD ["serve", "--config", "/etc/pulsegate/pulsegate.toml"]
