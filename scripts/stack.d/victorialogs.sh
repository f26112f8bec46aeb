# VictoriaLogs (Apache-2.0), built with Go from the module proxy: there is no
# Debian package. The binary is cached under
# $RCA_STACK_CACHE/victorialogs-$VICTORIALOGS_VERSION/, Go's module and build
# caches are kept (Go's defaults, under $HOME). Data under
# $RCA_STACK_RUN/victorialogs/, kept for 100 years so that pushed fixtures of
# any date stay queryable. Address: $VICTORIALOGS_ADDR (default
# 127.0.0.1:9428; LogsQL at /select/logsql/query, JSON lines at
# /insert/jsonline, OTLP logs at /insert/opentelemetry/v1/logs).
VICTORIALOGS_VERSION="${VICTORIALOGS_VERSION:-v1.52.1}"
export VICTORIALOGS_ADDR="${VICTORIALOGS_ADDR:-127.0.0.1:9428}"

victorialogs_bin() { echo "$RCA_STACK_CACHE/victorialogs-$VICTORIALOGS_VERSION/victoria-logs"; }
export -f victorialogs_bin

victorialogs_install() {
    [ -x "$(victorialogs_bin)" ] && return 0
    command -v go >/dev/null || apt_install golang-go
    echo "victorialogs: building github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION (once)" >&2
    local mod="$RCA_STACK_CACHE/victorialogs-build-$VICTORIALOGS_VERSION"
    mkdir -p "$mod" "$(dirname "$(victorialogs_bin)")"
    (
        cd "$mod"
        [ -f go.mod ] || go mod init rca-stack/victorialogs >&2
        go get -tool "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VICTORIALOGS_VERSION" >&2
        go build -trimpath -o "$(victorialogs_bin).tmp" github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs >&2
    )
    mv "$(victorialogs_bin).tmp" "$(victorialogs_bin)"
}

victorialogs_start() {
    "$(victorialogs_bin)" \
        -storageDataPath="$RCA_STACK_RUN/victorialogs" \
        -httpListenAddr="$VICTORIALOGS_ADDR" \
        -retentionPeriod=100y \
        >"$RCA_STACK_RUN/victorialogs.log" 2>&1 &
    echo $!
}

victorialogs_ready() {
    curl -fsS -o /dev/null "http://$VICTORIALOGS_ADDR/health" 2>/dev/null
}

victorialogs_address() {
    echo "http://$VICTORIALOGS_ADDR"
}
