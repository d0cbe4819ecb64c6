//! `/openapi.json` is an OpenAPI 3.0 JSON document that lists every endpoint with its methods,
//! and every `$ref` in it resolves.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::Value;

const ENDPOINTS: &[(&str, &[&str])] = &[
    ("/dir/{domain}", &["get", "put", "delete"]),
    ("/dir/{domain}/{user}", &["put", "patch", "delete"]),
    ("/reg", &["get"]),
    ("/reg/{domain}", &["get"]),
    ("/reg/{domain}/{user}", &["get"]),
    ("/cdr/{domain}", &["get"]),
    ("/call", &["get"]),
    ("/call/{id}", &["get"]),
    ("/call/{id}/hangup", &["post"]),
    ("/openapi.json", &["get"]),
    ("/metrics", &["get"]),
    ("/healthz", &["get"]),
];

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn document_describes_every_endpoint() {
    let h = common::harness().await;
    let a = h.call(Method::GET, "/openapi.json", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.content_type.starts_with("application/json"));
    let doc = a.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in ENDPOINTS {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} missing"));
        for m in *methods {
            let op = &item[*m];
            assert!(op.is_object(), "{m} {path} missing");
            assert!(op["responses"].is_object(), "{m} {path} has no responses");
        }
    }
    assert_eq!(paths.len(), ENDPOINTS.len(), "undocumented or extra paths");

    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    // The seed's fields are in the schemas.
    let user = &doc["components"]["schemas"]["UserRegistration"]["properties"];
    for field in [
        "registered",
        "outstandingping",
        "remote",
        "epochs",
        "contacts",
    ] {
        assert!(user[field].is_object(), "{field}");
    }

    // DESIGN.md section 15's CDR fields, and the call webhook's body.
    let cdr = &doc["components"]["schemas"]["Cdr"]["properties"];
    for field in [
        "id",
        "domain",
        "call_id",
        "from",
        "to",
        "start",
        "answer",
        "end",
        "duration",
        "billsec",
        "cause",
        "hangup_by",
        "codecs",
    ] {
        assert!(cdr[field].is_object(), "Cdr.{field}");
    }
    let page = &doc["components"]["schemas"]["CdrPage"]["properties"];
    assert!(page["cdrs"].is_object() && page["next"].is_object());
    let hook = &doc["components"]["schemas"]["CallEvent"]["properties"];
    for field in [
        "event", "id", "domain", "from", "to", "call_id", "time", "cdr",
    ] {
        assert!(hook[field].is_object(), "CallEvent.{field}");
    }

    // Each documented endpoint exists in the router: none answers "no such endpoint".
    for (path, methods) in ENDPOINTS {
        let concrete = path
            .replace("{domain}", "example.com")
            .replace("{user}", "1000");
        for m in *methods {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let body = matches!(*m, "put" | "patch").then_some("{}");
            let a = h.call(method, &concrete, body).await;
            assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
            if a.status == StatusCode::NOT_FOUND {
                assert_ne!(a.json()["error"], "no such endpoint", "{m} {path}");
            }
        }
    }
}
