//! `/reg`: who is registered (seed 001's registration interface, DESIGN.md sections 7 and
//! 15).
//!
//! ```json
//! {"domain": "bling.babblevoice.com", "count": 2, "registered": 1,
//!  "users": {
//!   "1000": {"registered": false},
//!   "1003": {"registered": true, "outstandingping": 0,
//!            "remote": {"host": "127.0.0.1", "port": 42068, "agent": "Z 5.2.28 rv2.8.114"},
//!            "epochs": {"registered": 1552507958},
//!            "contacts": [{"uri": "sip:1003@127.0.0.1:42068", "host": "127.0.0.1",
//!                          "port": 42068, "transport": "udp",
//!                          "agent": "Z 5.2.28 rv2.8.114", "expires": 3599}]}}}
//! ```
//!
//! A registered user's `remote`, `outstandingping` and `epochs.registered` are those of its
//! newest binding (the seed knew one contact per user); `contacts` lists them all, oldest first,
//! with `expires` in seconds from now.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use pbx::directory::check_domain_name;
use pbx::{Binding, Store};
use serde::Serialize;

use crate::Api;
use crate::error::ApiError;

/// `GET /reg`.
#[derive(Serialize)]
pub(crate) struct Count {
    count: usize,
}

/// `GET /reg/{domain}` and `GET /reg/{domain}/{user}`.
#[derive(Serialize)]
pub(crate) struct DomainRegistrations {
    domain: String,
    /// Users listed.
    count: usize,
    /// Users listed that have at least one binding.
    registered: usize,
    users: BTreeMap<String, UserRegistration>,
}

#[derive(Serialize)]
struct UserRegistration {
    registered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    outstandingping: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<Remote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epochs: Option<Epochs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contacts: Option<Vec<ContactView>>,
}

#[derive(Serialize)]
struct Remote {
    host: String,
    port: u16,
    agent: String,
}

#[derive(Serialize)]
struct Epochs {
    registered: u64,
}

#[derive(Serialize)]
struct ContactView {
    uri: String,
    host: String,
    port: u16,
    transport: String,
    agent: String,
    expires: u64,
}

impl UserRegistration {
    fn of(bindings: &[Binding], now: u64) -> Self {
        // `max_by_key` keeps the last of equals: with equal times, the later in the list.
        let Some(newest) = bindings.iter().max_by_key(|b| b.registered_at) else {
            return Self {
                registered: false,
                outstandingping: None,
                remote: None,
                epochs: None,
                contacts: None,
            };
        };
        Self {
            registered: true,
            outstandingping: Some(newest.outstanding_pings),
            remote: Some(Remote {
                host: newest.flow.remote.ip().to_string(),
                port: newest.flow.remote.port(),
                agent: newest.agent.to_string(),
            }),
            epochs: Some(Epochs {
                registered: newest.registered_at,
            }),
            contacts: Some(
                bindings
                    .iter()
                    .map(|b| ContactView {
                        uri: b.contact.to_string(),
                        host: b.flow.remote.ip().to_string(),
                        port: b.flow.remote.port(),
                        transport: b.flow.transport.as_str().to_ascii_lowercase(),
                        agent: b.agent.to_string(),
                        expires: b.expires_at.saturating_sub(now),
                    })
                    .collect(),
            ),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET /reg`: the number of users, over all domains, with at least one binding (the seed's
/// "number of registered clients"; `/metrics` has the number of bindings).
pub(crate) async fn count<S: Store>(State(api): State<Api<S>>) -> Json<Count> {
    let location = api.state.location.read().unwrap_or_else(|e| e.into_inner());
    let users: HashSet<(&str, &str)> = location.iter().map(|b| (&*b.domain, &*b.user)).collect();
    Json(Count { count: users.len() })
}

/// The view of `domain`, listing every user when `only` is `None`.
fn view<S: Store>(
    api: &Api<S>,
    domain: &str,
    only: Option<&str>,
) -> Result<DomainRegistrations, ApiError> {
    // The two locks are taken one after the other, never nested, like the registrar does.
    let mut names: BTreeSet<String> = {
        let directory = api.state.read_directory();
        let entry = directory
            .domain(domain)
            .ok_or_else(|| ApiError::NoSuchDomain(domain.to_owned()))?;
        match only {
            Some(user) => entry
                .users
                .get(user)
                .map(|u| u.name.clone())
                .into_iter()
                .collect(),
            None => entry.users.keys().cloned().collect(),
        }
    };
    let now = unix_now();
    let location = api.state.location.read().unwrap_or_else(|e| e.into_inner());
    // Bindings of a user the directory no longer has (deleted while its REGISTER was being
    // answered) are shown too, rather than hidden.
    match only {
        Some(user) => {
            if !location.bindings(domain, user).is_empty() {
                names.insert(user.to_owned());
            }
            if names.is_empty() {
                return Err(ApiError::NoSuchUser {
                    domain: domain.to_owned(),
                    user: user.to_owned(),
                });
            }
        }
        None => names.extend(location.users_of(domain).map(|(user, _)| user.to_owned())),
    }
    let users: BTreeMap<String, UserRegistration> = names
        .into_iter()
        .map(|name| {
            let reg = UserRegistration::of(location.bindings(domain, &name), now);
            (name, reg)
        })
        .collect();
    Ok(DomainRegistrations {
        domain: domain.to_owned(),
        count: users.len(),
        registered: users.values().filter(|u| u.registered).count(),
        users,
    })
}

/// `GET /reg/{domain}`: every user of the domain, registered or not.
pub(crate) async fn domain<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DomainRegistrations>, ApiError> {
    let Path(raw) = path?;
    let domain = check_domain_name(&raw)?;
    view(&api, &domain, None).map(Json)
}

/// `GET /reg/{domain}/{user}`: the same shape, with only that user in `users`, and `count`
/// and `registered` counting that one user.
pub(crate) async fn user<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<DomainRegistrations>, ApiError> {
    let Path((raw, user)) = path?;
    let domain = check_domain_name(&raw)?;
    view(&api, &domain, Some(&user)).map(Json)
}
