# syntax=docker/dockerfile:1
#
# The `tributary` binary and the shipped plugins in a small non-root image:
#
#   docker build -t tributary .
#   docker run --rm tributary plugins list
#   docker run --rm -v "$PWD/pipelines:/pipelines:ro" -v tributary-data:/data \
#     tributary run /pipelines/quickstart.yaml
#
# Relative paths in a pipeline (`.tributary/...`, `out/...`) resolve against the working
# directory, /data, owned by the image's user (UID 65532): mount a volume there to keep
# state and output, or use `s3://` URLs. Kubernetes manifests: deploy/kubernetes/.

# ---- build: the release binary and the shipped plugin libraries -----------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Only the CLI and the shipped plugins: the example plugins (plugins/examples) are not in
# the image. The target directory is a cache mount, so the artifacts are copied out in the
# same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
      -p tributary-cli \
      -p tributary-sink-parquet \
      -p tributary-sink-arrow \
      -p tributary-sink-webhook \
      -p tributary-sink-delta \
      -p tributary-transform-validate \
 && mkdir -p /out/opt/tributary /out/data \
 && cp target/release/tributary \
       target/release/libtributary_sink_parquet.so \
       target/release/libtributary_sink_arrow.so \
       target/release/libtributary_sink_webhook.so \
       target/release/libtributary_sink_delta.so \
       target/release/libtributary_transform_validate.so \
       /out/opt/tributary/
# The layout works as shipped: every plugin is found with no flag and no
# TRIBUTARY_PLUGIN_PATH (an image whose plugins were not found would fail here).
RUN /out/opt/tributary/tributary plugins list > /tmp/plugins.txt \
 && cat /tmp/plugins.txt \
 && for p in arrow delta parquet validate webhook; do \
      grep -q "^$p " /tmp/plugins.txt || { echo "plugin $p not found" >&2; exit 1; }; \
    done

# ---- runtime: glibc, libgcc_s and CA certificates; no shell, no package manager --------
# The binary links glibc (libc, libm, libgcc_s only) and uses rustls with the system's CA
# certificates, so no OpenSSL is needed.
FROM gcr.io/distroless/cc-debian12:nonroot
# Plugins sit next to the binary: after `plugins.files`, `plugins.paths` and
# TRIBUTARY_PLUGIN_PATH, the engine searches the directory of the running executable
# (core/engine/src/plugins.rs, `search_dirs`; only `libtributary_*` files there), so the
# shipped plugins load without extra flags. Set TRIBUTARY_PLUGIN_PATH to add your own
# (a plugin found there shadows a shipped one of the same name).
COPY --from=build /out/opt/tributary/ /opt/tributary/
# The working directory, created owned by the runtime user (COPY --chown applies to the
# directory it creates).
COPY --from=build --chown=65532:65532 /out/data/ /data/
ENV PATH="/opt/tributary:${PATH}"
WORKDIR /data
USER 65532:65532
ENTRYPOINT ["tributary"]
CMD ["--help"]
