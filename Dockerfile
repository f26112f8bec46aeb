# Builds the rca binary; the fixtures are mounted, not baked in.
# (Not built in this project's CI: the machines there have no Docker engine.)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p rca --bin rca

FROM debian:bookworm-slim
COPY --from=build /src/target/release/rca /usr/local/bin/rca
ENTRYPOINT ["rca"]
