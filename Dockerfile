# syntax=docker/dockerfile:1
# The asset-directory service: built in release mode, run as a non-root user on a small image
# with no shell (distroless, glibc and CA certificates only).
#
#   docker build -t asset-directory .
#   docker run -p 8000:8000 -v ad-data:/data \
#     -e ENGINE_KEY_HASH=… -e AD_ENCRYPTION_KEY=… -e OAUTH_REDIRECT_BASE_URL=https://… asset-directory
#
# Production mode is on: without those three variables the service refuses to start and says
# which one is missing. docs/operations.md lists every variable.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Bundled SQLite and aws-lc (rustls) are C builds; the image's gcc is all they need.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --package server --bin asset-directory \
    && install -D --mode 0755 target/release/asset-directory /out/asset-directory \
    && install -d --mode 0700 /out/rootfs/data

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /out/asset-directory /usr/local/bin/asset-directory
# The data directory belongs to the non-root user (uid 65532) the image runs as; copied as an
# entry of a tree, so the directory itself gets that owner, and so does a new volume on it.
COPY --from=build --chown=65532:65532 /out/rootfs/ /
ENV AD_ENV=production \
    LISTEN_ADDR=0.0.0.0:8000 \
    AD_DATA_DIR=/data \
    DATABASE_URL=sqlite:///data/asset-directory.db
VOLUME ["/data"]
EXPOSE 8000
USER nonroot
ENTRYPOINT ["/usr/local/bin/asset-directory"]
CMD ["serve"]
