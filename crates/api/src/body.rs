//! The JSON body extractor. axum's own `Json` answers its rejections in plain text and
//! insists on `Content-Type: application/json`; the seed's clients (curl one-liners) do not
//! always send it. This one reads the body within the limit and parses it whatever the
//! content type says, and every failure is an [`ApiError`].

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A request body parsed as JSON into `T`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &St) -> Result<Self, Self::Rejection> {
        // `Bytes` honours `DefaultBodyLimit`: a larger body (declared or streamed) is refused
        // with 413 before it is all in memory.
        let bytes = Bytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadJson(e.to_string()))
    }
}
