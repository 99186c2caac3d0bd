# smokewatch: multi-stage build, small non-root runtime image.
#
#   docker build -t smokewatch .
#   docker run -p 8080:8080 -v $PWD/config.yaml:/etc/smokewatch/config.yaml:ro smokewatch
#
# The config is read from /etc/smokewatch/config.yaml (mount your own there,
# or override keys with SMOKEWATCH__SECTION__KEY environment variables).
# State (checkpoints, models, history, file sinks) lives in /var/lib/smokewatch/data.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin smokewatch \
 && strip target/release/smokewatch

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/smokewatch --create-home smokewatch
# A fresh named volume takes the owner of the folder it is mounted on:
# create it, owned by the non-root user, before VOLUME declares it.
RUN mkdir -p /var/lib/smokewatch/data \
 && chown -R smokewatch:smokewatch /var/lib/smokewatch
COPY --from=build /src/target/release/smokewatch /usr/local/bin/smokewatch
COPY config.yaml /etc/smokewatch/config.yaml
WORKDIR /var/lib/smokewatch
USER smokewatch
ENV SMOKEWATCH_CONFIG=/etc/smokewatch/config.yaml \
    SMOKEWATCH__DAEMON__DATA_DIR=/var/lib/smokewatch/data \
    SMOKEWATCH__WEB__HOST=0.0.0.0 \
    SMOKEWATCH__WEB__PORT=8080
VOLUME ["/var/lib/smokewatch/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health > /dev/null || exit 1
ENTRYPOINT ["smokewatch"]
CMD ["run"]
