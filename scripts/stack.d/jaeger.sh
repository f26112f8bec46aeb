# Jaeger v2 (all-in-one, in-memory storage), built with Go from the module
# proxy: there is no Debian package. The build takes minutes on 2 cores, so
# the binary is cached under $RCA_STACK_CACHE/jaeger-$JAEGER_VERSION/, and
# Go's module and build caches are kept (Go's defaults, under $HOME).
# Config: scripts/stack.d/jaeger.yaml. Addresses: $JAEGER_QUERY_HTTP (query
# API and UI, default 127.0.0.1:16686), $JAEGER_OTLP_GRPC (4317),
# $JAEGER_OTLP_HTTP (4318).
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"
export JAEGER_QUERY_HTTP="${JAEGER_QUERY_HTTP:-127.0.0.1:16686}"
export JAEGER_OTLP_GRPC="${JAEGER_OTLP_GRPC:-127.0.0.1:4317}"
export JAEGER_OTLP_HTTP="${JAEGER_OTLP_HTTP:-127.0.0.1:4318}"

jaeger_bin() { echo "$RCA_STACK_CACHE/jaeger-$JAEGER_VERSION/jaeger"; }

jaeger_install() {
    [ -x "$(jaeger_bin)" ] && return 0
    command -v go >/dev/null || apt_install golang-go
    echo "jaeger: building github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION (minutes, once)" >&2
    # `go install pkg@version` refuses a module with replace directives, so
    # build it as a tool of a throwaway module that repeats jaeger's one
    # replace (sarama, as jaeger's own go.mod pins it).
    local mod="$RCA_STACK_CACHE/jaeger-build-$JAEGER_VERSION"
    mkdir -p "$mod" "$(dirname "$(jaeger_bin)")"
    (
        cd "$mod"
        [ -f go.mod ] || go mod init rca-stack/jaeger >&2
        go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
        go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >&2
        go build -trimpath -o "$(jaeger_bin).tmp" github.com/jaegertracing/jaeger/cmd/jaeger >&2
    )
    mv "$(jaeger_bin).tmp" "$(jaeger_bin)"
}

jaeger_start() {
    "$(jaeger_bin)" --config "$ROOT/scripts/stack.d/jaeger.yaml" \
        >"$RCA_STACK_RUN/jaeger.log" 2>&1 &
    echo $!
}

jaeger_ready() {
    curl -fsS -o /dev/null "http://$JAEGER_QUERY_HTTP/api/services" 2>/dev/null
}

jaeger_address() {
    echo "http://$JAEGER_QUERY_HTTP (OTLP gRPC $JAEGER_OTLP_GRPC, HTTP $JAEGER_OTLP_HTTP)"
}
