//! HTTP errors: one table of stable codes, one error type, RFC 9457 problem responses.
//!
//! Every error response relais sends is `application/problem+json` with a `code` from
//! [`ErrorCode`]. Internal errors are logged once, with the request id, and answered without
//! their details.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The problem document's media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:ident, $title:literal, $doc:literal),)*) => {
        /// Stable machine-readable error codes. A code, once published, keeps its meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable code, e.g. `invalid_json`.
            pub fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// Short, human-readable summary (the problem `title`).
            pub fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title,)* }
            }

            /// When the code is used.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc,)* }
            }
        }
    };
}

error_codes! {
    BadRequest => ("bad_request", BAD_REQUEST, "Bad request", "The request is malformed in a way no more specific code describes."),
    InvalidJson => ("invalid_json", BAD_REQUEST, "Malformed JSON", "The body is not syntactically valid JSON."),
    InvalidBody => ("invalid_body", UNPROCESSABLE_ENTITY, "Invalid request body", "The body is valid JSON but does not match the expected shape or types."),
    InvalidQuery => ("invalid_query", BAD_REQUEST, "Invalid query parameters", "A query parameter is missing, unknown or of the wrong type."),
    InvalidPath => ("invalid_path", BAD_REQUEST, "Invalid path parameter", "A path parameter is of the wrong type or format."),
    Validation => ("validation_failed", UNPROCESSABLE_ENTITY, "Validation failed", "The request is well-formed but a value is not acceptable; `errors` lists each one."),
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", "The Content-Type header is missing or not one the route accepts."),
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE, "Payload too large", "The body is larger than the route accepts."),
    Unauthenticated => ("unauthenticated", UNAUTHORIZED, "Authentication required", "The route needs a valid `Authorization: Bearer` token."),
    Forbidden => ("forbidden", FORBIDDEN, "Forbidden", "The token is valid but its role is below the one the route requires."),
    RouteNotFound => ("route_not_found", NOT_FOUND, "No such route", "No route matches the request path."),
    NotFound => ("not_found", NOT_FOUND, "Not found", "The route exists but the resource it names does not."),
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed", "The route exists but not for this method; `Allow` lists the methods it accepts."),
    FileTooLarge => ("file_too_large", PAYLOAD_TOO_LARGE, "File too large", "An uploaded file is larger than its import type accepts; nothing was stored."),
    UnsupportedFile => ("unsupported_file", UNSUPPORTED_MEDIA_TYPE, "Unsupported file", "An uploaded file's extension is not accepted for its import type, or its content (magic bytes, structure) does not match the extension; nothing was stored."),
    DamagedFile => ("damaged_file", UNPROCESSABLE_ENTITY, "Damaged file", "An uploaded file is empty, truncated or malformed for its format; nothing was stored."),
    ArchiveBomb => ("archive_bomb", UNPROCESSABLE_ENTITY, "Archive bomb", "An uploaded archive (XLSX) exceeds the limits on entries, uncompressed size or compression ratio; nothing was stored."),
    TooManyRows => ("too_many_rows", UNPROCESSABLE_ENTITY, "Too many rows", "An uploaded file has more data rows than its import type accepts; nothing was stored."),
    Conflict => ("conflict", CONFLICT, "Conflict", "The request conflicts with the resource's current state."),
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS, "Too many requests", "A rate limit was reached; `Retry-After` says when to try again."),
    NotReady => ("not_ready", SERVICE_UNAVAILABLE, "Not ready", "A dependency (database, schema, Redis) is not ready, or the server is shutting down."),
    AuditUnavailable => ("audit_unavailable", SERVICE_UNAVAILABLE, "Audit trail unavailable", "The operation's audit record could not be written (database error, or shutting down). The operation may have taken effect: check its outcome before retrying."),
    Internal => ("internal", INTERNAL_SERVER_ERROR, "Internal error", "Something went wrong on the server; it is logged under the request id."),
}

impl ErrorCode {
    /// The code for a bare status produced outside any handler (used to dress such responses).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::RouteNotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Self::InvalidBody,
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => Self::NotReady,
            s if s.is_client_error() => Self::BadRequest,
            _ => Self::Internal,
        }
    }

    /// The problem `type` URI: a reference into the table served at `/api/problems`.
    pub fn type_uri(self) -> String {
        format!("/api/problems#{}", self.code())
    }
}

/// One invalid value, for [`ErrorCode::Validation`] and body errors.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) or parameter name of the offending value.
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document as relais sends it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI reference identifying the problem type (`/api/problems#<code>`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Stable machine code (see `/api/problems`).
    pub code: String,
    /// The request id (also in the `X-Request-Id` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Individual invalid values, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members specific to the problem.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// The HTTP layer's error: a code, a detail for the client, and for internal errors a source
/// that is logged and never sent.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    errors: Vec<FieldError>,
    extensions: serde_json::Map<String, serde_json::Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
    source: Option<anyhow::Error>,
}

impl ApiError {
    /// An error with a client-facing detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
            headers: Vec::new(),
            source: None,
        }
    }

    /// An internal error: logged with its source chain, answered with a generic detail.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            ErrorCode::Internal,
            "Something went wrong on our side; quote the request id when reporting it.",
        );
        e.source = Some(source.into());
        e
    }

    /// Adds individual invalid values.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Adds an extension member to the problem document.
    pub fn with_extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.to_owned(), value);
        self
    }

    /// Adds a response header (e.g. `Allow`, `Retry-After`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The problem document this error is answered with.
    pub fn problem(&self) -> Problem {
        let ctx = crate::middleware::current_request();
        Problem {
            type_uri: self.code.type_uri(),
            title: self.code.title().to_owned(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            instance: ctx.as_ref().map(|c| c.path.clone()),
            code: self.code.code().to_owned(),
            request_id: ctx.map(|c| c.id),
            errors: self.errors.clone(),
            extensions: self.extensions.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.code(), self.detail)
    }
}

impl<E: Into<anyhow::Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            // The span of the request carries request_id, method and route.
            tracing::error!(error = %format_args!("{source:#}"), "internal error");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.code.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.code()), "duplicate {}", code.code());
            assert!(
                code.code()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn internal_errors_hide_their_source() {
        let err = ApiError::internal(anyhow::anyhow!("password=hunter2 leaked"));
        let problem = serde_json::to_string(&err.problem()).unwrap();
        assert!(!problem.contains("hunter2"));
        assert!(problem.contains("\"code\":\"internal\""));
    }
}
