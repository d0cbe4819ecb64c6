//! `/dir`: domains and users (seed 001's directory interface, DESIGN.md section 7).
//!
//! Secrets become digest HA1 values the moment they are parsed, with the domain as realm, and
//! go no further: they are never stored, logged or returned. Every change goes to the store
//! first and to the in-memory directory after, so a failed store write changes nothing.

use std::collections::HashSet;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pbx::directory::{DomainEntry, check_domain_name, check_user_name};
use pbx::{DigestAlgorithm, Domain, Latching, Secret, Store, User};
use serde::{Deserialize, Serialize};

use crate::Api;
use crate::body::{JsonBody, Object};
use crate::error::ApiError;

/// The user name of a domain's admin credential (DESIGN.md section 15: 9P `admin@<domain>`).
const ADMIN_USER: &str = "admin";

/// `PUT /dir/{domain}`. No `Debug`: it holds passwords.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutDomain {
    #[serde(default)]
    control: Option<String>,
    #[serde(default)]
    users: Option<Vec<Object<UserBody>>>,
    #[serde(default)]
    digest: Option<Vec<String>>,
    #[serde(default)]
    admin: Option<Object<SecretBody>>,
    /// `"strict"` (the default) or `"any"`: where the media relay accepts this domain's
    /// phones' media from.
    #[serde(default)]
    latching: Option<String>,
}

/// One user of `PUT /dir/{domain}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    username: String,
    secret: String,
}

/// `PUT /dir/{domain}/{user}`, and the `admin` of `PUT /dir/{domain}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretBody {
    secret: String,
}

/// The domain entry as `GET /dir/{domain}` shows it: no secret, no HA1.
#[derive(Serialize)]
pub(crate) struct DomainView {
    domain: String,
    control: Option<String>,
    digest: Vec<&'static str>,
    latching: &'static str,
    users: Vec<UserView>,
}

#[derive(Serialize)]
struct UserView {
    username: String,
}

/// The answer to `PUT /dir/{domain}/{user}`.
#[derive(Serialize)]
pub(crate) struct UserPut {
    domain: String,
    username: String,
}

impl DomainView {
    fn of(entry: &DomainEntry) -> Self {
        let mut users: Vec<UserView> = entry
            .users
            .keys()
            .map(|name| UserView {
                username: name.clone(),
            })
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Self {
            domain: entry.domain.name.clone(),
            control: entry.domain.control.clone(),
            digest: entry.domain.digest.iter().map(|a| a.as_str()).collect(),
            latching: entry.domain.latching.as_str(),
            users,
        }
    }
}

/// The HA1 values of `password` for `user` in `realm`. An empty password is refused.
fn secret(user: &str, realm: &str, password: &str) -> Result<Secret, ApiError> {
    Secret::from_password(user, realm, password).ok_or(ApiError::EmptySecret)
}

fn check_control(control: &str) -> Result<(), ApiError> {
    let url = reqwest::Url::parse(control).map_err(|_| ApiError::BadControl)?;
    let ok =
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadControl)
    }
}

/// The algorithms in the order given, duplicates dropped.
fn parse_digest(tokens: &[String]) -> Result<Vec<DigestAlgorithm>, ApiError> {
    if tokens.is_empty() {
        return Err(ApiError::EmptyDigest);
    }
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        let alg = DigestAlgorithm::parse(token)
            .ok_or_else(|| ApiError::UnknownDigest(token.chars().take(32).collect()))?;
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

/// Validates a whole `PUT /dir/{domain}` before anything is written.
fn domain_from_body(
    name: String,
    body: PutDomain,
) -> Result<(Domain, Option<Vec<User>>), ApiError> {
    if let Some(control) = &body.control {
        check_control(control)?;
    }
    let digest = match &body.digest {
        Some(tokens) => parse_digest(tokens)?,
        None => vec![DigestAlgorithm::Md5],
    };
    let users = match body.users {
        None => None,
        Some(list) => {
            let mut seen = HashSet::with_capacity(list.len());
            let mut users = Vec::with_capacity(list.len());
            for Object(u) in list {
                check_user_name(&u.username)?;
                if !seen.insert(u.username.clone()) {
                    return Err(ApiError::DuplicateUser(u.username));
                }
                let secret = secret(&u.username, &name, &u.secret)?;
                users.push(User {
                    name: u.username,
                    secret,
                });
            }
            Some(users)
        }
    };
    let admin = match body.admin {
        Some(Object(a)) => Some(secret(ADMIN_USER, &name, &a.secret)?),
        None => None,
    };
    let latching = match body.latching.as_deref() {
        None => Latching::Strict,
        Some(s) => Latching::parse(s).ok_or_else(|| ApiError::UnknownLatching(s.to_owned()))?,
    };
    let domain = Domain {
        name,
        control: body.control,
        digest,
        admin,
        latching,
    };
    Ok((domain, users))
}

/// `PUT /dir/{domain}`: creates (201) or replaces (200) a domain. A `users` list replaces the
/// domain's users (the bindings of users no longer listed go); without one the users stay.
pub(crate) async fn put_domain<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<PutDomain>,
) -> Result<(StatusCode, Json<DomainView>), ApiError> {
    let Path(raw) = path?;
    let name = check_domain_name(&raw)?;
    let (domain, users) = domain_from_body(name, body)?;

    let name = domain.name.clone();
    let created = api.writer.put_domain(domain, users).await?;
    let view = api.state.read_directory().domain(&name).map(DomainView::of);
    let view = view.ok_or(ApiError::NoSuchDomain(name))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)))
}

/// `GET /dir/{domain}`.
pub(crate) async fn get_domain<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<DomainView>, ApiError> {
    let Path(raw) = path?;
    let name = check_domain_name(&raw)?;
    let directory = api.state.read_directory();
    directory
        .domain(&name)
        .map(|entry| Json(DomainView::of(entry)))
        .ok_or(ApiError::NoSuchDomain(name))
}

/// `DELETE /dir/{domain}`: the domain, its users and their bindings.
pub(crate) async fn delete_domain<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(raw) = path?;
    let name = check_domain_name(&raw)?;
    if !api.writer.delete_domain(&name).await? {
        return Err(ApiError::NoSuchDomain(name));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT` or `PATCH /dir/{domain}/{user}`: creates (201) or replaces (200) one user.
pub(crate) async fn put_user<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<(String, String)>, PathRejection>,
    JsonBody(body): JsonBody<SecretBody>,
) -> Result<(StatusCode, Json<UserPut>), ApiError> {
    let Path((raw_domain, user)) = path?;
    let domain = check_domain_name(&raw_domain)?;
    check_user_name(&user)?;
    let user = User {
        secret: secret(&user, &domain, &body.secret)?,
        name: user,
    };

    let answer = UserPut {
        domain: domain.clone(),
        username: user.name.clone(),
    };
    let Some(created) = api.writer.put_user(&domain, user).await? else {
        return Err(ApiError::NoSuchDomain(domain));
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)))
}

/// `DELETE /dir/{domain}/{user}`: the user and its bindings.
pub(crate) async fn delete_user<S: Store>(
    State(api): State<Api<S>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((raw_domain, user)) = path?;
    let domain = check_domain_name(&raw_domain)?;
    check_user_name(&user)?;

    if !api.writer.delete_user(&domain, &user).await? {
        let known = api.state.read_directory().domain(&domain).is_some();
        return Err(if known {
            ApiError::NoSuchUser { domain, user }
        } else {
            ApiError::NoSuchDomain(domain)
        });
    }
    Ok(StatusCode::NO_CONTENT)
}
