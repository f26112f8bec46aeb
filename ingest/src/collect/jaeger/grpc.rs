//! Jaeger's `api_v3` gRPC query service (`jaeger.api_v3.QueryService`,
//! Jaeger's default port 16685): `GetServices`, `GetOperations`, and
//! `FindTraces`, which streams OTLP protobuf `TracesData`, one message a
//! trace. Each message is converted into the observation model as it
//! arrives and dropped, so an answer is never held whole.
//!
//! The request messages are declared here with `prost`'s derive, from the
//! field numbers of Jaeger's `api_v3/query_service.proto` (jaeger-idl);
//! the answers are the `opentelemetry-proto` types. No code generation, so
//! building needs no `protoc`.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::TracesData;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use tonic_prost::ProstCodec;

use crate::model::{Micros, Observations};
use crate::traces::read_traces_proto;

/// `google.protobuf.Timestamp` and `google.protobuf.Duration`: the same
/// two fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Instant {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Instant {
    fn micros(us: Micros) -> Instant {
        Instant {
            seconds: us.div_euclid(1_000_000),
            nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceQueryParameters {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(string, tag = "2")]
    pub operation_name: String,
    #[prost(map = "string, string", tag = "3")]
    pub attributes: HashMap<String, String>,
    #[prost(message, optional, tag = "4")]
    pub start_time_min: Option<Instant>,
    #[prost(message, optional, tag = "5")]
    pub start_time_max: Option<Instant>,
    #[prost(message, optional, tag = "6")]
    pub duration_min: Option<Instant>,
    #[prost(message, optional, tag = "7")]
    pub duration_max: Option<Instant>,
    /// The most traces to answer.
    #[prost(int32, tag = "8")]
    pub search_depth: i32,
    #[prost(bool, tag = "9")]
    pub raw_traces: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FindTracesRequest {
    #[prost(message, optional, tag = "1")]
    pub query: Option<TraceQueryParameters>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetServicesRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetServicesResponse {
    #[prost(string, repeated, tag = "1")]
    pub services: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetOperationsRequest {
    #[prost(string, tag = "1")]
    pub service: String,
    #[prost(string, tag = "2")]
    pub span_kind: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Operation {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub span_kind: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetOperationsResponse {
    #[prost(message, repeated, tag = "1")]
    pub operations: Vec<Operation>,
}

/// The largest message taken: one trace. 64 MiB is a trace of some
/// hundred thousand spans, far past what any search here asks for, and
/// bounds what a broken server can make rca hold.
const MAX_MESSAGE: usize = 64 << 20;

/// One search, as the gRPC API takes it.
pub struct Find<'a> {
    pub service: &'a str,
    pub operation: Option<&'a str>,
    pub start: Micros,
    pub end: Micros,
    pub limit: u32,
    pub failing: bool,
    pub min_duration: Option<Micros>,
}

/// What went wrong with a call, in the words the collector reports.
#[derive(Debug)]
pub enum GrpcError {
    /// The server asked to slow down (`RESOURCE_EXHAUSTED`, or
    /// `UNAVAILABLE` from a server that answered before).
    Busy(Status),
    /// Any other refusal or failure.
    Failed(Status),
    /// A message that does not convert.
    Malformed(String),
}

impl std::fmt::Display for GrpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrpcError::Busy(s) | GrpcError::Failed(s) => {
                write!(f, "gRPC {:?}: {}", s.code(), s.message())
            }
            GrpcError::Malformed(m) => f.write_str(m),
        }
    }
}

fn error(s: Status) -> GrpcError {
    // UNAVAILABLE is the server's 503, unless it is the client's own
    // transport failing (nothing listens, the connection broke): that
    // carries its cause, and is a failure, as an HTTP connection refused.
    let transport = std::error::Error::source(&s).is_some();
    match s.code() {
        Code::ResourceExhausted => GrpcError::Busy(s),
        Code::Unavailable if !transport => GrpcError::Busy(s),
        _ => GrpcError::Failed(s),
    }
}

/// A client of one query service. Cheap to clone: the connection is
/// shared.
#[derive(Clone)]
pub struct QueryClient {
    channel: Channel,
    url: String,
}

impl QueryClient {
    /// A client of `url` (`http://host:16685`); connects on first use.
    /// Every call ends within `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<QueryClient, String> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("jaeger.grpc_url {url:?}: {e}"))?
            .connect_timeout(Duration::from_secs(2).min(timeout))
            .timeout(timeout)
            .tcp_nodelay(true);
        Ok(QueryClient {
            channel: endpoint.connect_lazy(),
            url: url.to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A dispatcher on the shared connection, ready for one call.
    async fn grpc(&self) -> Result<tonic::client::Grpc<Channel>, GrpcError> {
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        grpc.ready()
            .await
            .map_err(|e| GrpcError::Failed(Status::unavailable(format!("not connected: {e}"))))?;
        Ok(grpc)
    }

    async fn unary<M1, M2>(&self, method: &'static str, msg: M1) -> Result<M2, GrpcError>
    where
        M1: prost::Message + Send + Sync + 'static,
        M2: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = self.grpc().await?;
        let path = PathAndQuery::from_static(method);
        grpc.unary(Request::new(msg), path, ProstCodec::<M1, M2>::default())
            .await
            .map(|r| r.into_inner())
            .map_err(error)
    }

    pub async fn services(&self) -> Result<Vec<String>, GrpcError> {
        const METHOD: &str = "/jaeger.api_v3.QueryService/GetServices";
        let r: GetServicesResponse = self.unary(METHOD, GetServicesRequest {}).await?;
        Ok(r.services)
    }

    pub async fn operations(&self, service: &str) -> Result<Vec<String>, GrpcError> {
        const METHOD: &str = "/jaeger.api_v3.QueryService/GetOperations";
        let r: GetOperationsResponse = self
            .unary(
                METHOD,
                GetOperationsRequest {
                    service: service.to_string(),
                    span_kind: String::new(),
                },
            )
            .await?;
        Ok(r.operations.into_iter().map(|o| o.name).collect())
    }

    /// The traces `q` finds, read into `obs` as they stream in; returns
    /// how many came.
    pub async fn find(&self, q: &Find<'_>, obs: &mut Observations) -> Result<u64, GrpcError> {
        const METHOD: &str = "/jaeger.api_v3.QueryService/FindTraces";
        let mut attributes = HashMap::new();
        if q.failing {
            attributes.insert("error".to_string(), "true".to_string());
        }
        let request = FindTracesRequest {
            query: Some(TraceQueryParameters {
                service_name: q.service.to_string(),
                operation_name: q.operation.unwrap_or_default().to_string(),
                attributes,
                start_time_min: Some(Instant::micros(q.start)),
                start_time_max: Some(Instant::micros(q.end)),
                duration_min: q.min_duration.map(Instant::micros),
                duration_max: None,
                search_depth: i32::try_from(q.limit).unwrap_or(i32::MAX),
                raw_traces: false,
            }),
        };
        let mut grpc = self.grpc().await?;
        let codec = ProstCodec::<FindTracesRequest, TracesData>::default();
        let answer = grpc
            .server_streaming(
                Request::new(request),
                PathAndQuery::from_static(METHOD),
                codec,
            )
            .await;
        let mut stream = match answer {
            Ok(r) => r.into_inner(),
            // Nothing found is an empty answer, not a failure.
            Err(s) if s.code() == Code::NotFound => return Ok(0),
            Err(s) => return Err(error(s)),
        };
        let mut traces = 0u64;
        loop {
            match stream.message().await {
                Ok(Some(data)) => {
                    traces += 1;
                    read_traces_proto(&data, obs).map_err(|e| {
                        GrpcError::Malformed(format!(
                            "{}{METHOD} answered a trace that does not convert: {e}",
                            self.url
                        ))
                    })?;
                }
                Ok(None) => return Ok(traces),
                Err(s) if s.code() == Code::NotFound => return Ok(traces),
                Err(s) => return Err(error(s)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_split_microseconds_into_seconds_and_nanoseconds() {
        assert_eq!(
            Instant::micros(1_700_000_000_250_000),
            Instant {
                seconds: 1_700_000_000,
                nanos: 250_000_000
            }
        );
        assert_eq!(
            Instant::micros(-1),
            Instant {
                seconds: -1,
                nanos: 999_999_000
            }
        );
    }

    /// The request's bytes, field by field, as protoc would lay them out:
    /// the field numbers are the contract with Jaeger.
    #[test]
    fn a_find_request_has_the_field_numbers_of_query_service_proto() {
        let q = TraceQueryParameters {
            service_name: "a".into(),
            search_depth: 5,
            ..Default::default()
        };
        let bytes = prost::Message::encode_to_vec(&FindTracesRequest { query: Some(q) });
        // field 1 (query), length 5: field 1 (service_name) "a", field 8 varint 5.
        assert_eq!(bytes, vec![0x0a, 5, 0x0a, 1, b'a', 0x40, 5]);
    }

    #[tokio::test]
    async fn a_closed_port_is_a_failure_not_a_busy_server() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c =
            QueryClient::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)).unwrap();
        // A failure, not a busy server to wait for.
        match c.services().await {
            Err(e @ GrpcError::Failed(_)) => assert!(e.to_string().contains("Unavailable"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
