# syntax=docker/dockerfile:1.7
#
# Image of the user-import-operator controller.
#   docker build -t user-import-operator:dev .
# Build stage: the Rust toolchain, on the same Debian release (12, bookworm) as the
# runtime image, so the glibc the binary links against is the one it runs with.
# The crate uses rustls (no OpenSSL), so the binary needs only libc/libgcc at run time.
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
# rustls' aws-lc-rs provider (in the dependency tree through kube-client) compiles the
# aws-lc C library; ring compiles C too. slim has gcc; cmake is aws-lc-sys' fallback build.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# The whole workspace (Cargo.toml names tests/kube-standin as a member and declares the
# bench, so cargo needs them to read the manifest); .dockerignore keeps target/, .git,
# the chart and the examples out of the context.
COPY . .

# --locked: build exactly what Cargo.lock says, fail if it is out of date.
# The cache mounts keep the registry and target/ between builds (BuildKit); the binary
# is copied out of the cached target/ in the same step, since the mount is not in the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin user-import-operator \
 && install -D -m 0755 target/release/user-import-operator /out/user-import-operator

# Runtime: distroless "cc" (glibc, libgcc, CA certificates, tzdata; no shell, no package
# manager), as its non-root user 65532 — the UID the Helm chart's securityContext sets.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="user-import-operator" \
      org.opencontainers.image.description="Imports a Risk Assess tenant's users from a Coupa User Import Template" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/user-import-operator /user-import-operator
USER 65532:65532
# /healthz, /readyz, /metrics
EXPOSE 8080
ENTRYPOINT ["/user-import-operator"]
CMD ["run"]
