# currents-bridge: one static binary on an empty image. The same image is the GitHub Action
# (report, cancel, and the pre/post entrypoints) and the relay service.
#
# No USER and no WORKDIR: GitHub runs Docker actions as root in /github/workspace, and a
# different user could not write the workspace or the runtime files.

FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl \
 && mkdir /out \
 && cp target/x86_64-unknown-linux-musl/release/currents-bridge /out/currents-bridge \
 # The action's pre and post entrypoints select their command by the name they are run as.
 && ln -s currents-bridge /out/currents-bridge-pre \
 && ln -s currents-bridge /out/currents-bridge-post

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /usr/local/bin/
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/usr/local/bin/currents-bridge"]
CMD ["report"]
