# Neo4j Community 5.26, in-process in a small Java launcher
# (tools/neo4j-launcher) built with Maven from Maven Central: only Java 17 and
# Maven needed, no Docker, no tarball. Bolt only, on 127.0.0.1:$RCA_NEO4J_PORT
# (default 7687), authentication off: a test server, never a production one.
# Its data lives in $RCA_STACK_RUN/neo4j/ and outlives down/up.

NEO4J_PORT="${RCA_NEO4J_PORT:-7687}"
NEO4J_LAUNCHER="$ROOT/tools/neo4j-launcher"

neo4j_install() {
    command -v java >/dev/null && command -v mvn >/dev/null || apt_install openjdk-17-jdk-headless maven
    local jar="$NEO4J_LAUNCHER/target/neo4j-launcher.jar"
    # Rebuilt when the pom or the launcher changed since the last build.
    if [ -f "$jar" ] && [ -z "$(find "$NEO4J_LAUNCHER/pom.xml" "$NEO4J_LAUNCHER/src" -newer "$jar" -type f)" ]; then
        return 0
    fi
    echo "neo4j: building the launcher (Maven; the first build downloads Neo4j into ~/.m2)" >&2
    (cd "$NEO4J_LAUNCHER" && mvn -q -B package) >&2
}

neo4j_start() {
    nohup java -Xms256m -Xmx1g -XX:+UseParallelGC \
        -jar "$NEO4J_LAUNCHER/target/neo4j-launcher.jar" "$RCA_STACK_RUN/neo4j" "$NEO4J_PORT" \
        >"$RCA_STACK_RUN/neo4j.log" 2>&1 &
    echo $!
}

# Ready once the launcher has said Bolt is up (it prints that after the
# database has started) and the port takes connections.
neo4j_ready() {
    grep -q "neo4j: bolt on" "$RCA_STACK_RUN/neo4j.log" 2>/dev/null &&
        (exec 3<>"/dev/tcp/127.0.0.1/$NEO4J_PORT") 2>/dev/null
}

neo4j_address() {
    echo "bolt://127.0.0.1:$NEO4J_PORT"
}
