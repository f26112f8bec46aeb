# nats-server (Apache-2.0) with JetStream, built with Go from the module
# proxy (the Debian package is older than the JetStream features rca uses).
# The binary is cached under $RCA_STACK_CACHE/nats-$NATS_VERSION/, Go's module
# and build caches are kept (Go's defaults, under $HOME). JetStream's store
# under $RCA_STACK_RUN/nats/. Address: $NATS_ADDR (default 127.0.0.1:4222,
# loopback only); monitoring (healthz) on $NATS_MONITOR (127.0.0.1:8222).
NATS_VERSION="${NATS_VERSION:-v2.15.2}"
export NATS_ADDR="${NATS_ADDR:-127.0.0.1:4222}"
export NATS_MONITOR="${NATS_MONITOR:-127.0.0.1:8222}"

nats_bin() { echo "$RCA_STACK_CACHE/nats-$NATS_VERSION/nats-server"; }
export -f nats_bin

nats_install() {
    [ -x "$(nats_bin)" ] && return 0
    command -v go >/dev/null || apt_install golang-go
    echo "nats: building github.com/nats-io/nats-server/v2@$NATS_VERSION (once)" >&2
    local mod="$RCA_STACK_CACHE/nats-build-$NATS_VERSION"
    mkdir -p "$mod" "$(dirname "$(nats_bin)")"
    (
        cd "$mod"
        [ -f go.mod ] || go mod init rca-stack/nats >&2
        go get -tool "github.com/nats-io/nats-server/v2@$NATS_VERSION" >&2
        go build -trimpath -o "$(nats_bin).tmp" github.com/nats-io/nats-server/v2 >&2
    )
    mv "$(nats_bin).tmp" "$(nats_bin)"
}

nats_start() {
    "$(nats_bin)" \
        --jetstream \
        --store_dir "$RCA_STACK_RUN/nats" \
        --addr "${NATS_ADDR%:*}" --port "${NATS_ADDR##*:}" \
        --http_port "${NATS_MONITOR##*:}" \
        >"$RCA_STACK_RUN/nats.log" 2>&1 &
    echo $!
}

nats_ready() {
    curl -fsS -o /dev/null "http://$NATS_MONITOR/healthz?js-enabled-only=true" 2>/dev/null
}

nats_address() {
    echo "nats://$NATS_ADDR"
}
