# syntax=docker/dockerfile:1
# Multi-stage build of the `switchboard` binary.
#
#   docker build -t switchboard .                          # small image: bring your own PostgreSQL
#   docker run -p 8080:8080 -e SWITCHBOARD__DATABASE__URL=postgres://… \
#              -e SWITCHBOARD__HTTP__PUBLIC_URL=https://support.example.com -v sb-data:/var/lib/switchboard switchboard
#
#   Several nodes (README, "Deploying several nodes"): the same image per node, each with the same
#   SWITCHBOARD__SECRETS__MASTER_KEY and SWITCHBOARD__STORAGE__BACKEND=s3 (+ S3_BUCKET, S3_ENDPOINT, keys);
#   SWITCHBOARD__METRICS__BIND=0.0.0.0:9464 (and -p 9464) for Prometheus. Stop them with SIGTERM, one at a time.
#
#   docker build --target standalone -t switchboard:standalone .   # with PostgreSQL inside: zero configuration
#   docker run -p 8080:8080 -v sb-data:/var/lib/switchboard switchboard:standalone
#
# sqlx speaks PostgreSQL's protocol itself and reqwest uses rustls, so the runtime needs no client libraries:
# only CA certificates for talking to Twilio.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY .cargo .cargo
COPY src src
COPY migrations migrations
COPY config config
COPY benches benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin switchboard && cp target/release/switchboard /switchboard

FROM debian:bookworm-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/switchboard --create-home --shell /usr/sbin/nologin switchboard
COPY --from=build /switchboard /usr/local/bin/switchboard
COPY config/example.toml /etc/switchboard/example.toml
# The sandbox plays Twilio for a first try on one machine; a container is reachable from elsewhere: off.
ENV SWITCHBOARD__HTTP__BIND=0.0.0.0:8080 \
    SWITCHBOARD__DATA_DIR=/var/lib/switchboard \
    SWITCHBOARD__LOG__FORMAT=json \
    SWITCHBOARD__SANDBOX__ENABLED=false
VOLUME /var/lib/switchboard
EXPOSE 8080
USER switchboard
WORKDIR /var/lib/switchboard
ENTRYPOINT ["switchboard"]
CMD ["serve"]

# The embedded default inside the container: PostgreSQL's binaries, run by the switchboard user itself.
FROM base AS standalone
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
USER switchboard

FROM base AS runtime
