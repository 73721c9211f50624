# currents-bridge: one static binary on an empty image. The same image is the GitHub Action
# (report, cancel, and the pre/post entrypoints) and the relay service.
#
# No USER and no WORKDIR: GitHub runs Docker actions as root in /github/workspace, and a
# different user could not write the workspace or the runtime files. No shell either: the
# runner overrides the entrypoint with the single executable named in action.yml.
#
# Two ways to fill it, one image:
#   --target release  copies the static musl binary already built on the host into dist/
#                     (scripts/build-image.sh, and the release workflow for amd64 + arm64).
#                     Nothing is pulled or compiled, so it builds offline in seconds.
#   (default)         compiles from source in a Rust container. This is what `image: Dockerfile`
#                     runs when a workflow uses the action at a branch such as `main`.

# ---- release: the published image -------------------------------------------------------------
FROM scratch AS release
# Set by BuildKit for each --platform; scripts/build-image.sh passes it for the legacy builder.
ARG TARGETARCH
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# The binary plus its pre/post names (symbolic links): the action's pre and post entrypoints
# select their command by the name they are run as.
COPY dist/linux-${TARGETARCH}/ /usr/local/bin/
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/usr/local/bin/currents-bridge"]
CMD ["report"]

# ---- build: compile from exactly the files copied below (.ci/run replays this set) ---------------
FROM rust:1-alpine AS build
# Alpine's package versions change under a rolling tag; the binary's own inputs are pinned by
# Cargo.lock, and these two only supply the C toolchain and the CA bundle.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
RUN cargo build --release --locked \
 && mkdir /out \
 && cp target/release/currents-bridge /out/currents-bridge \
 && ln -s currents-bridge /out/currents-bridge-pre \
 && ln -s currents-bridge /out/currents-bridge-post

# ---- source: the same image as `release`, with the binary compiled above ----------------------
FROM scratch AS source
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /usr/local/bin/
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/usr/local/bin/currents-bridge"]
CMD ["report"]
