//! The *OpenAPI document* of every endpoint, served at `/api/v1/openapi.json`. It is written
//! by hand beside the handlers; a test checks that it names every route the router serves
//! (and no other), and CI runs schemathesis against a running sidewatch to check that the
//! answers match it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document's text.
pub(crate) const TEXT: &str = include_str!("openapi.json");

/// `GET /api/v1/openapi.json`
pub(crate) async fn document() -> Response {
    let mut r = TEXT.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
