# perpbot in a container: built in one stage, run as a non-root user in a slim one.
#
#   docker build -t perpbot .
#   docker run --rm -it perpbot                                   # the market maker on the embedded simulator
#   docker run -d --name perpbot --stop-timeout 60 \
#     -v /etc/perpbot/testnet.toml:/etc/perpbot/config.toml:ro \
#     -v /etc/perpbot/keys:/run/secrets/perpbot:ro \
#     -v perpbot-state:/var/lib/perpbot \
#     -p 127.0.0.1:9187:9187 \
#     perpbot run --config /etc/perpbot/config.toml --metrics 0.0.0.0:9187
#
# The key is mounted read-only and named in the config as a key file
# (`private_key = { file = "/run/secrets/perpbot/trading.key" }`); the journal, the saved loss
# limits and the kill file go under /var/lib/perpbot. `docker stop` sends SIGTERM: the bot
# cancels every order and waits for confirmations, so give it a stop timeout longer than
# `engine.shutdown_timeout_ms`.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile production --locked --bin perpbot

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/perpbot --create-home --shell /usr/sbin/nologin perpbot
COPY --from=build /src/target/production/perpbot /usr/local/bin/perpbot
COPY --from=build /src/config /etc/perpbot/examples
USER perpbot
WORKDIR /var/lib/perpbot
STOPSIGNAL SIGTERM
ENTRYPOINT ["perpbot"]
CMD ["run"]
