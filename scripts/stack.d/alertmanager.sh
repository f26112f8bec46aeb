# Alertmanager (Debian's prometheus-alertmanager), its webhook pointed at
# rca serve: $RCA_WEBHOOK_URL (default http://127.0.0.1:8080/api/v1/alerts).
# Config: scripts/stack.d/alertmanager.yml, with the URL filled in at start.
# Address: $ALERTMANAGER_ADDR (default 127.0.0.1:9093).
export ALERTMANAGER_ADDR="${ALERTMANAGER_ADDR:-127.0.0.1:9093}"
export RCA_WEBHOOK_URL="${RCA_WEBHOOK_URL:-http://127.0.0.1:8080/api/v1/alerts}"

alertmanager_install() {
    apt_install prometheus-alertmanager
}

alertmanager_start() {
    sed "s|RCA_WEBHOOK_URL|$RCA_WEBHOOK_URL|" "$ROOT/scripts/stack.d/alertmanager.yml" \
        >"$RCA_STACK_RUN/alertmanager/alertmanager.yml"
    prometheus-alertmanager \
        --config.file="$RCA_STACK_RUN/alertmanager/alertmanager.yml" \
        --storage.path="$RCA_STACK_RUN/alertmanager" \
        --web.listen-address="$ALERTMANAGER_ADDR" \
        --cluster.listen-address= \
        >"$RCA_STACK_RUN/alertmanager.log" 2>&1 &
    echo $!
}

alertmanager_ready() {
    curl -fsS -o /dev/null "http://$ALERTMANAGER_ADDR/-/ready" 2>/dev/null
}

alertmanager_address() {
    echo "http://$ALERTMANAGER_ADDR (webhook to $RCA_WEBHOOK_URL)"
}
