# syntax=docker/dockerfile:1.7
#
# Image of the user-import-operator controller.
#   docker build -t user-import-operator:dev .
#
# Build arguments (the defaults build from source on public images):
#   RUST_IMAGE  the Rust toolchain image of the `builder` stage
#   BASE_IMAGE  the runtime base: glibc, libgcc, CA certificates, tzdata, user 65532
# A binary built elsewhere replaces the `builder` stage through a named build context of the
# same name, a folder holding it as out/user-import-operator:
#   podman build --build-context builder=DIR ...    (podman >= 4.2, buildah >= 1.27)
#   docker buildx build --build-context builder=DIR ...
# The stage is then not run and its image not pulled. scripts/image builds this file that way
# with no registry at all: the binary built on the host, and a BASE_IMAGE made from Debian's
# packages. (A `FROM ${ARG}` naming the stage would do the same with BuildKit, but buildah 1.28
# takes such a name for an image and tries to pull it.)
ARG RUST_VERSION=1.95
ARG RUST_IMAGE=docker.io/library/rust:${RUST_VERSION}-slim-bookworm
ARG BASE_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# Build stage: the Rust toolchain, on the same Debian release (12, bookworm) as the
# runtime image, so the glibc the binary links against is the one it runs with.
# The crate uses rustls (no OpenSSL), so the binary needs only libc/libgcc at run time.
FROM ${RUST_IMAGE} AS builder
# rustls' aws-lc-rs provider (in the dependency tree through kube-client) compiles the
# aws-lc C library; ring compiles C too. slim has gcc; cmake is aws-lc-sys' fallback build.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# The whole workspace (Cargo.toml names the crates/ members and declares the benches, so cargo
# needs them to read the manifest); .dockerignore keeps the rest (target/,
# .git, the chart, docs, scripts, the other tests) out of the context.
COPY . .

# --locked: build exactly what Cargo.lock says, fail if it is out of date.
# The cache mounts keep the registry and target/ between builds (BuildKit); the binary
# is copied out of the cached target/ in the same step, since the mount is not in the image.
# The release profile keeps line tables for the developers' backtraces; the image gets a copy
# without debug info (the symbol table stays, so a panic's backtrace still names functions).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin user-import-operator \
 && mkdir -p /out \
 && objcopy --strip-debug target/release/user-import-operator /out/user-import-operator \
 && chmod 0755 /out/user-import-operator

# Runtime: distroless "cc" (glibc, libgcc, CA certificates, tzdata; no shell, no package
# manager), as its non-root user 65532 — the UID the Helm chart's securityContext sets.
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="user-import-operator" \
      org.opencontainers.image.description="Imports a Risk Assess tenant's users from a Coupa User Import Template" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/user-import-operator /user-import-operator
USER 65532:65532
# /healthz, /readyz, /metrics
EXPOSE 8080
ENTRYPOINT ["/user-import-operator"]
CMD ["run"]
