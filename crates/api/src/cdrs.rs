//! `GET /cdr/{domain}`: an account's call detail records, a page at a time (DESIGN.md
//! section 15).
//!
//! ```text
//! GET /cdr/example.com?since=1795500000&until=1795586400&user=1000&limit=50&cursor=3137...
//! {"cdrs": [{"id": "...", "domain": "example.com", "from": "1000", ...}], "next": "3137..."}
//! ```
//!
//! | parameter | meaning |
//! |---|---|
//! | `since` | calls that started at or after this Unix time |
//! | `until` | calls that started before this Unix time |
//! | `user` | calls from or to this user (exact match) |
//! | `limit` | records per page, 1 and up, default 100; more than 1000 is taken as 1000 |
//! | `cursor` | the `next` of the previous page |
//!
//! Records come in `(start, id)` order; `next` is `null` on the last page. Pages are keyset
//! pages, so walking them returns every record that existed when the walk began exactly once
//! (a long call committed during the walk may start before the cursor and be missed: to
//! catch those, walk again with `since` a little before the last `start` seen).
//!
//! A malformed parameter, an unknown or repeated one, or a cursor this PBX did not give out
//! answers 400. A domain answers 404 when it is neither in the directory nor has any CDRs:
//! the records of a deleted domain stay readable.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use pbx::directory::check_domain_name;
use pbx::{Cdr, CdrCursor, CdrQuery, Store};
use serde::Serialize;

use crate::Api;
use crate::error::ApiError;

/// The answer to `GET /cdr/{domain}`.
#[derive(Serialize)]
pub(crate) struct CdrPageView {
    cdrs: Vec<Cdr>,
    next: Option<String>,
}

/// `GET /cdr/{domain}`.
pub(crate) async fn list<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CdrPageView>, ApiError> {
    let Path(raw_domain) = path?;
    let domain = check_domain_name(&raw_domain)?;
    let query = parse_query(&domain, raw.as_deref().unwrap_or(""))?;
    let page = api.store.query_cdrs(&query).await?;
    if page.cdrs.is_empty() && !known(&api, &domain).await? {
        return Err(ApiError::NoSuchDomain(domain));
    }
    Ok(Json(CdrPageView {
        cdrs: page.cdrs,
        next: page.next.map(|c| c.to_string()),
    }))
}

/// True when the domain is in the directory or has CDRs.
async fn known<S: Store>(api: &Api<S>, domain: &str) -> Result<bool, ApiError> {
    let listed = api.state.read_directory().domain(domain).is_some();
    if listed {
        return Ok(true);
    }
    let mut any = CdrQuery::new(domain);
    any.limit = 1;
    Ok(!api.store.query_cdrs(&any).await?.cdrs.is_empty())
}

/// The query string as a [`CdrQuery`].
fn parse_query(domain: &str, raw: &str) -> Result<CdrQuery, ApiError> {
    let mut query = CdrQuery::new(domain);
    let mut seen = HashSet::new();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        let bad = |reason: &'static str| ApiError::BadQuery {
            parameter: name.chars().take(32).collect(),
            reason,
        };
        if !seen.insert(name.clone()) {
            return Err(bad("given twice"));
        }
        match &*name {
            "since" => query.since = Some(whole_number(&value).ok_or_else(|| bad(UNIX_SECONDS))?),
            "until" => query.until = Some(whole_number(&value).ok_or_else(|| bad(UNIX_SECONDS))?),
            "user" => {
                if value.is_empty() {
                    return Err(bad("must not be empty"));
                }
                query.user = Some(value.into_owned());
            }
            "limit" => {
                query.limit = whole_number(&value)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("expected a whole number from 1"))?;
            }
            "cursor" => {
                query.after = Some(
                    value
                        .parse::<CdrCursor>()
                        .map_err(|_| bad("not a cursor this server gave out"))?,
                );
            }
            _ => return Err(bad("unknown parameter")),
        }
    }
    Ok(query)
}

const UNIX_SECONDS: &str = "expected Unix seconds (a whole number)";

/// A whole number in plain decimal digits (no sign, no spaces), within `u64`.
fn whole_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_parameter() {
        let cursor = CdrCursor {
            start: 5,
            id: "x".into(),
        };
        let q = parse_query(
            "example.com",
            &format!("since=1&until=20&user=%2B49%20a&limit=5000&cursor={cursor}"),
        )
        .expect("query");
        assert_eq!(q.since, Some(1));
        assert_eq!(q.until, Some(20));
        assert_eq!(q.user.as_deref(), Some("+49 a"));
        assert_eq!(q.page_size(), 1000);
        assert_eq!(q.after, Some(cursor));
        let q = parse_query("example.com", "").expect("empty");
        assert_eq!(q, CdrQuery::new("example.com"));
    }

    #[test]
    fn refuses_bad_values() {
        for raw in [
            "since=-1",
            "since=1.5",
            "since=",
            "since=+1",
            "until=x",
            "until=99999999999999999999",
            "limit=0",
            "limit=ten",
            "user=",
            "cursor=zz",
            "cursor=",
            "since=1&since=2",
            "from=1000",
        ] {
            assert!(
                matches!(
                    parse_query("example.com", raw),
                    Err(ApiError::BadQuery { .. })
                ),
                "{raw}"
            );
        }
    }
}
