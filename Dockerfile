# syntax=docker/dockerfile:1
# Orkestra's two images from one build:
#
#   docker build --target controller -t ghcr.io/orkestra/orkestra-controller:0.1.0 .
#   docker build --target webhook    -t ghcr.io/orkestra/orkestra-webhook:0.1.0 .
#
# The controller image is also the executor image of the workflow steps (`orkestra-controller
# executor`). Both run as a numeric non-root user on a distroless base (glibc and CA certificates,
# no shell), as the chart's restricted pod security context expects (runAsNonRoot, read-only root).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build
# Only what the workspace needs (BuildKit sends no other file of the context, target/ included).
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY shared shared
COPY webhook webhook
COPY controller controller
COPY certs certs
COPY tests tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked \
        -p orkestra-webhook -p orkestra-controller \
        --bin orkestra-webhook --bin orkestra-controller \
 && mkdir -p /out \
 && cp target/release/orkestra-webhook target/release/orkestra-controller /out/

# gcr.io/distroless/cc-debian12: glibc, libgcc and CA certificates (the controller pulls charts
# over https) for binaries built on bookworm; `nonroot` is uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
USER 65532:65532

FROM runtime AS webhook
COPY --from=builder /out/orkestra-webhook /usr/local/bin/orkestra-webhook
EXPOSE 8443 8080
ENTRYPOINT ["/usr/local/bin/orkestra-webhook"]
CMD ["serve"]

FROM runtime AS controller
COPY --from=builder /out/orkestra-controller /usr/local/bin/orkestra-controller
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/orkestra-controller"]
CMD ["run"]
