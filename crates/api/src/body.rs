//! The JSON body extractor. axum's own `Json` answers its rejections in plain text and
//! insists on `Content-Type: application/json`; the seed's clients (curl one-liners) do not
//! always send it. This one reads the body within the limit and parses it whatever the
//! content type says, and every failure is an [`ApiError`].

use std::fmt;
use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// A request body parsed as JSON into `T`, which must come from a JSON object.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &St) -> Result<Self, Self::Rejection> {
        // `Bytes` honours `DefaultBodyLimit`: a larger body (declared or streamed) is refused
        // with 413 before it is all in memory.
        let bytes = Bytes::from_request(req, state).await?;
        serde_json::from_slice::<Object<T>>(&bytes)
            .map(|Object(t)| JsonBody(t))
            .map_err(|e| ApiError::BadJson(e.to_string()))
    }
}

/// A `T` that only a JSON object can give. serde's derived struct deserializers also take
/// an array of the fields in order (`[]` would be a `PUT /dir` with every field absent);
/// the API's bodies are objects, and anything else is refused.
pub(crate) struct Object<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}
