//! The API's errors, and the one place that decides what each answers on the wire: a status
//! and a JSON body `{"error": "..."}`.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pbx::StoreError;
use pbx::directory::NameError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not JSON, or not the JSON the endpoint takes (a wrong type, an unknown or
    /// missing field). The text is serde's, about the caller's own input.
    #[error("invalid JSON body: {0}")]
    BadJson(String),
    /// The body is larger than [`BODY_LIMIT`](crate::BODY_LIMIT).
    #[error("request body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body could not be read (the client went away, a broken chunked encoding...).
    #[error("cannot read the request body")]
    BadBody,
    /// A path segment that is not valid UTF-8 once percent-decoded.
    #[error("invalid path")]
    BadPath,
    /// A domain or user name that is malformed or reserved.
    #[error(transparent)]
    BadName(#[from] NameError),
    /// A digest algorithm token other than `MD5` and `SHA-256`.
    #[error("unknown digest algorithm {0:?} (expected \"SHA-256\" or \"MD5\")")]
    UnknownDigest(String),
    /// A `latching` other than `strict` and `any`.
    #[error("unknown latching {0:?} (expected \"strict\" or \"any\")")]
    UnknownLatching(String),
    /// `"digest": []`.
    #[error("the digest list is empty")]
    EmptyDigest,
    /// A `control` that is not an absolute `http` or `https` URL.
    #[error("control must be an http or https URL")]
    BadControl,
    /// An empty secret.
    #[error("the secret is empty")]
    EmptySecret,
    /// The same user name twice in one user list.
    #[error("user {0:?} is listed twice")]
    DuplicateUser(String),
    /// A query string parameter that is malformed, unknown or repeated.
    #[error("query parameter {parameter:?}: {reason}")]
    BadQuery {
        /// The parameter's name (as given, shortened).
        parameter: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No such domain.
    #[error("no such domain {0:?}")]
    NoSuchDomain(String),
    /// No such user in an existing domain.
    #[error("no such user {user:?} in domain {domain:?}")]
    NoSuchUser {
        /// The domain.
        domain: String,
        /// The user.
        user: String,
    },
    /// No live call with this id.
    #[error("no such call {0:?}")]
    NoSuchCall(String),
    /// The call manager cannot take a command now (its queue is full).
    #[error("busy, try again")]
    Busy,
    /// No endpoint at this path.
    #[error("no such endpoint")]
    NoSuchPath,
    /// The endpoint exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A token is set and the request did not carry it.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The store failed; nothing was changed.
    #[error("storage failure")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadJson(_)
            | Self::BadBody
            | Self::BadPath
            | Self::BadName(_)
            | Self::UnknownDigest(_)
            | Self::UnknownLatching(_)
            | Self::EmptyDigest
            | Self::BadControl
            | Self::EmptySecret
            | Self::DuplicateUser(_)
            | Self::BadQuery { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoSuchDomain(_)
            | Self::NoSuchUser { .. }
            | Self::NoSuchCall(_)
            | Self::NoSuchPath => StatusCode::NOT_FOUND,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            // Our own fault: worth an operator's attention. The backend's text goes to the log,
            // not to the client.
            Self::Store(e) => tracing::error!(error = %e, "store write failed"),
            // The caller's input: debug only (STYLE.md section 2), and never the serde text,
            // which may quote a value that was meant to be a secret.
            _ => tracing::debug!(
                status = status.as_u16(),
                kind = self.kind(),
                "request refused"
            ),
        }
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        let mut response = (status, body).into_response();
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl ApiError {
    /// A short name of the variant, for logs.
    fn kind(&self) -> &'static str {
        match self {
            Self::BadJson(_) => "bad_json",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BadBody => "bad_body",
            Self::BadPath => "bad_path",
            Self::BadName(_) => "bad_name",
            Self::UnknownDigest(_) => "unknown_digest",
            Self::UnknownLatching(_) => "unknown_latching",
            Self::EmptyDigest => "empty_digest",
            Self::BadControl => "bad_control",
            Self::EmptySecret => "empty_secret",
            Self::DuplicateUser(_) => "duplicate_user",
            Self::BadQuery { .. } => "bad_query",
            Self::NoSuchDomain(_) => "no_such_domain",
            Self::NoSuchUser { .. } => "no_such_user",
            Self::NoSuchCall(_) => "no_such_call",
            Self::Busy => "busy",
            Self::NoSuchPath => "no_such_path",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::Store(_) => "store",
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::BodyTooLarge {
                limit: crate::BODY_LIMIT,
            }
        } else {
            Self::BadBody
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        Self::BadPath
    }
}
