//! The bearer-token guard, a layer any router can wear (`rca serve` also puts it on its own
//! routes, except health and metrics).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::server::ErrorBody;

/// `router` answering 401 to any request without `Authorization: Bearer <token>`; unchanged
/// when `token` is `None` or empty.
pub fn require_bearer<S>(router: Router<S>, token: Option<String>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    match token.filter(|t| !t.is_empty()) {
        None => router,
        Some(t) => router.layer(middleware::from_fn_with_state(Arc::<str>::from(t), guard)),
    }
}

async fn guard(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| same(g.trim().as_bytes(), token.as_bytes())) {
        return next.run(req).await;
    }
    let mut res = (
        StatusCode::UNAUTHORIZED,
        Json(ErrorBody {
            error: "missing or wrong bearer token".to_owned(),
        }),
    )
        .into_response();
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"rca\""),
    );
    res
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn comparison() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3creT"));
        assert!(!same(b"s3cret", b"s3cret2"));
        assert!(!same(b"", b"x"));
    }
}
