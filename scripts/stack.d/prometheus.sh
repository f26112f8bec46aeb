# Prometheus (Debian's package, with promtool). Config:
# scripts/stack.d/prometheus.yml and rules.yml; the remote-write receiver is
# on, for `rca fixtures push`. Address: $PROMETHEUS_ADDR (default
# 127.0.0.1:9090).
export PROMETHEUS_ADDR="${PROMETHEUS_ADDR:-127.0.0.1:9090}"

prometheus_install() {
    apt_install prometheus
}

prometheus_start() {
    prometheus \
        --config.file="$ROOT/scripts/stack.d/prometheus.yml" \
        --storage.tsdb.path="$RCA_STACK_RUN/prometheus" \
        --web.listen-address="$PROMETHEUS_ADDR" \
        --web.enable-remote-write-receiver \
        --web.enable-lifecycle \
        >"$RCA_STACK_RUN/prometheus.log" 2>&1 &
    echo $!
}

prometheus_ready() {
    curl -fsS -o /dev/null "http://$PROMETHEUS_ADDR/-/ready" 2>/dev/null
}

prometheus_address() {
    echo "http://$PROMETHEUS_ADDR"
}
