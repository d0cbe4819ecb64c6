//! The registrar (RFC 3261 section 10.3): digest authentication against the directory, then
//! the bindings of the To user, remembered with the flow the REGISTER really arrived on.
//!
//! It is an application of the endpoint task: it gets a parsed REGISTER and the wall-clock
//! time, and returns the response plus the events (first binding, last binding gone) that
//! webhooks report. No I/O; the nonce key and tags come from the RNG it is given.

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use rand::{Rng, rngs::StdRng};
use sip::digest::{Algorithm, Challenge, Credentials, Qop};
use sip::{Contact, HeaderName, NameAddr, Request, Response, StatusCode, Uri};

use crate::directory::{DigestAlgorithm, Directory};
use crate::location::{Binding, Flow, Location};
use crate::nonce::{NonceCheck, Nonces};

/// The registrar's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest registration accepted (423 below it, RFC 3261 section 10.3 step 7).
    pub min_expires: u32,
    /// Longest registration granted; longer requests are shortened to it.
    pub max_expires: u32,
    /// The expiry when the REGISTER names none.
    pub default_expires: u32,
    /// Most bindings per user; the oldest give way to new ones beyond it.
    pub max_contacts: usize,
    /// Seconds a nonce lives.
    pub nonce_lifetime: u64,
    /// Most nonces tracked at once.
    pub max_nonces: usize,
    /// Seconds between OPTIONS keepalives to each contact (0: no keepalives).
    pub keepalive_interval: u64,
    /// Unanswered keepalives after which a contact is dropped.
    pub keepalive_failures: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
            max_contacts: 10,
            nonce_lifetime: 300,
            max_nonces: 100_000,
            keepalive_interval: 30,
            keepalive_failures: 3,
        }
    }
}

/// The directory and the location service, shared by the registrar (the endpoint task) and
/// the HTTP API. Locks are held for lookups and small updates only, never across an await.
#[derive(Debug, Default)]
pub struct State {
    /// Domains and users.
    pub directory: RwLock<Directory>,
    /// Bindings.
    pub location: RwLock<Location>,
}

impl State {
    /// The directory for reading. A poisoned lock is taken as it is, as everywhere here: a
    /// writer that panicked is no reason to stop answering lookups.
    pub fn read_directory(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.directory.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// What webhooks report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegEvent {
    /// A user went from no binding to one.
    Registered {
        /// The domain.
        domain: String,
        /// The user.
        user: String,
        /// Where the REGISTER came from.
        host: String,
        /// Its source port.
        port: u16,
        /// Its User-Agent.
        agent: String,
    },
    /// A user's last binding went (unregister, expiry, failed keepalives, closed connection).
    Unregistered {
        /// The domain.
        domain: String,
        /// The user.
        user: String,
    },
}

/// How a request fared against authentication, for the brute-force guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    /// It carried no usable credentials and was challenged.
    Challenged,
    /// Its credentials were wrong, forged, replayed or malformed.
    Failed,
    /// It authenticated.
    Succeeded,
    /// Authentication did not come into it (a malformed request refused first).
    NotApplicable,
}

/// An OPTIONS keepalive to send to a binding, over its flow.
#[derive(Debug, Clone)]
pub struct Ping {
    /// The binding's domain.
    pub domain: String,
    /// The binding's user.
    pub user: String,
    /// The binding's contact URI.
    pub contact: String,
    /// Where it goes.
    pub flow: Flow,
    /// The request.
    pub request: Request,
}

/// The registrar's answer to one REGISTER.
#[derive(Debug)]
pub struct Outcome {
    /// The response to send.
    pub response: Response,
    /// Webhook events it caused.
    pub events: Vec<RegEvent>,
    /// How authentication went.
    pub auth: AuthResult,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's domain (account).
    pub domain: String,
    /// The caller's user name.
    pub user: String,
}

/// Connection ids from here up are virtual connections: 9P `sip.sock` files (DESIGN.md
/// section 9), which the SIP endpoint numbers apart from its TCP connections. Their
/// bindings live as long as the file is open: they neither expire nor get keepalives, and
/// requests on them come from an extension the 9P attach already authenticated.
pub const VIRTUAL_CONNS: u64 = 1 << 62;

/// Whether a binding's flow is a virtual connection (a `sip.sock` file).
pub fn is_virtual(flow: &Flow) -> bool {
    flow.conn.is_some_and(|c| c >= VIRTUAL_CONNS)
}

/// The registrar.
pub struct Registrar {
    config: RegistrarConfig,
    state: Arc<State>,
    nonces: Nonces,
    rng: StdRng,
    /// The domain of REGISTERs addressed to an IP address rather than a domain.
    default_domain: Option<String>,
    /// Where each Contact URI is written to be compared with the bindings; a binding then
    /// gets an exact-size copy (see [`Registrar::update_bindings`]).
    scratch: String,
}

fn to_sip_alg(a: DigestAlgorithm) -> Algorithm {
    match a {
        DigestAlgorithm::Md5 => Algorithm::Md5,
        DigestAlgorithm::Sha256 => Algorithm::Sha256,
    }
}

impl Registrar {
    /// A registrar over `state`; `rng` keys nonces and makes tags.
    pub fn new(config: RegistrarConfig, state: Arc<State>, mut rng: StdRng) -> Self {
        let nonces = Nonces::new(rng.random(), config.nonce_lifetime, config.max_nonces);
        Self {
            config,
            state,
            nonces,
            rng,
            default_domain: None,
            scratch: String::new(),
        }
    }

    /// Maps REGISTERs addressed to an IP address to `domain` (DESIGN.md section 15: requests
    /// addressed to the PBX's own IP use that IP as the domain unless `default_domain` is
    /// configured). A REGISTER reaches the registrar only when it is sent to the PBX, so an IP
    /// in its To is one of the PBX's addresses, whichever interface or NAT it came through;
    /// an IP that is itself a configured domain keeps its own meaning.
    pub fn with_default_domain(mut self, domain: &str) -> Self {
        self.default_domain = Some(domain.to_ascii_lowercase());
        self
    }

    /// The domain (account) a To host names: lowercase, port dropped, brackets of an IPv6
    /// literal removed.
    fn domain_of(&self, host: &sip::Host) -> String {
        let name = host.to_string().to_ascii_lowercase();
        let name = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        match (&self.default_domain, host.ip()) {
            (Some(default), Some(_)) => {
                let dir = self.state.read_directory();
                if dir.domain(&name).is_some() {
                    name
                } else {
                    default.clone()
                }
            }
            _ => name,
        }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Handles a REGISTER that arrived on `flow` at `now` (Unix seconds).
    pub fn handle_register(&mut self, now: u64, req: &Request, flow: Flow) -> Outcome {
        let tag = format!("{:016x}", self.rng.random::<u64>());
        let reply = |status: StatusCode| {
            let mut r = Response::to_request(req, status);
            if r.head.to.tag().is_none() {
                r.head.to.params.set("tag", Some(tag.clone()));
            }
            r
        };
        let refuse = |status: StatusCode| Outcome {
            response: reply(status),
            events: Vec::new(),
            auth: AuthResult::NotApplicable,
        };

        // The address-of-record is the To URI: its host names the domain (lowercase, port
        // dropped, DESIGN.md section 15), its user part the user.
        let Uri::Sip(to) = &req.head.to.uri else {
            return refuse(StatusCode::BAD_REQUEST);
        };
        let Some(user) = to.user.as_deref().map(sip::unescape) else {
            return refuse(StatusCode::BAD_REQUEST);
        };
        let domain = self.domain_of(&to.host);

        if let Some(outcome) = self.authenticate(now, req, &domain, &user, &reply) {
            return outcome;
        }

        let mut outcome = self.update_bindings(now, req, &domain, &user, flow, reply);
        outcome.auth = AuthResult::Succeeded;
        outcome
    }

    /// Authenticates the caller of a request the PBX would act on for someone (an INVITE):
    /// the From user of the From domain, challenged with 401 like a REGISTER (DESIGN.md
    /// section 15: the caller need not be registered). `Err` carries the answer to send.
    pub fn authenticate_caller(&mut self, now: u64, req: &Request) -> Result<Caller, Box<Outcome>> {
        let tag = format!("{:016x}", self.rng.random::<u64>());
        let reply = |status: StatusCode| {
            let mut r = Response::to_request(req, status);
            if r.head.to.tag().is_none() {
                r.head.to.params.set("tag", Some(tag.clone()));
            }
            r
        };
        let (Uri::Sip(from), Some(user)) = (
            &req.head.from.uri,
            req.head.from.uri.sip().and_then(|u| u.user.as_deref()),
        ) else {
            return Err(Box::new(Outcome {
                response: reply(StatusCode::BAD_REQUEST),
                events: Vec::new(),
                auth: AuthResult::NotApplicable,
            }));
        };
        let user = sip::unescape(user);
        let domain = self.domain_of(&from.host);
        match self.authenticate(now, req, &domain, &user, &reply) {
            Some(refusal) => Err(Box::new(refusal)),
            None => Ok(Caller { domain, user }),
        }
    }

    /// Makes the binding of a `sip.sock` file opened by `caller` (already authenticated by
    /// its 9P attach): `contact`, as if a REGISTER had arrived on `flow`, so that the first
    /// binding fires the registration webhook like any other. Returns the webhook events.
    pub fn bind_trusted(
        &mut self,
        now: u64,
        caller: &Caller,
        contact: &str,
        agent: &str,
        flow: Flow,
    ) -> Vec<RegEvent> {
        let call_id = format!("{:016x}", self.rng.random::<u64>());
        let agent: String = agent
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        let raw = format!(
            "REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/TCP 9p.invalid;branch=z9hG4bK{call_id}\r\n\
             From: <sip:{user}@{domain}>;tag={call_id}\r\nTo: <sip:{user}@{domain}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nContact: <{contact}>\r\n\
             User-Agent: {agent}\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n",
            domain = caller.domain,
            user = caller.user,
            expires = self.config.max_expires,
        );
        let req = match sip::Message::parse(raw.as_bytes()) {
            Ok(sip::Message::Request(r)) => r,
            _ => {
                tracing::warn!(
                    contact,
                    "sip.sock binding not made: unusable contact or agent"
                );
                return Vec::new();
            }
        };
        let outcome = self.handle_register_trusted(now, &req, flow, caller);
        if outcome.response.status != StatusCode::OK {
            tracing::warn!(status = %outcome.response.status, "sip.sock binding refused");
        }
        outcome.events
    }

    /// A REGISTER that arrived on a virtual connection opened by `caller`: not challenged
    /// (the 9P attach authenticated the extension), refused with 403 when its To names anyone
    /// else. A virtual connection carries one phone, so the bindings this REGISTER makes
    /// replace the ones its connection had (the binding made at open, or an older Contact).
    pub fn handle_register_trusted(
        &mut self,
        now: u64,
        req: &Request,
        flow: Flow,
        caller: &Caller,
    ) -> Outcome {
        let tag = format!("{:016x}", self.rng.random::<u64>());
        let reply = |status: StatusCode| {
            let mut r = Response::to_request(req, status);
            if r.head.to.tag().is_none() {
                r.head.to.params.set("tag", Some(tag.clone()));
            }
            r
        };
        let aor = match &req.head.to.uri {
            Uri::Sip(to) => to
                .user
                .as_deref()
                .map(|u| (self.domain_of(&to.host), sip::unescape(u))),
            _ => None,
        };
        let Some((domain, user)) = aor else {
            return Outcome {
                response: reply(StatusCode::BAD_REQUEST),
                events: Vec::new(),
                auth: AuthResult::NotApplicable,
            };
        };
        if domain != caller.domain || user != caller.user {
            return Outcome {
                response: reply(StatusCode::FORBIDDEN),
                events: Vec::new(),
                auth: AuthResult::NotApplicable,
            };
        }
        let conn = flow.conn;
        let mut outcome = self.update_bindings(now, req, &domain, &user, flow, reply);
        if outcome.response.status == StatusCode::OK {
            // Only the contacts this REGISTER named stay on its connection.
            let named: Vec<String> = req
                .head
                .contact
                .iter()
                .filter_map(Contact::addr)
                .map(|c| c.uri.to_string())
                .collect();
            let events = self.retain(|b| {
                b.flow.conn != conn
                    || *b.domain != *domain
                    || *b.user != *user
                    || named.iter().any(|n| *n == *b.contact)
            });
            outcome.events.extend(events);
        }
        outcome.auth = AuthResult::Succeeded;
        outcome
    }

    /// The caller of a new INVITE that arrived on a virtual connection opened by `caller`:
    /// not challenged, but its From must be that extension (403 otherwise).
    pub fn trusted_caller(
        &mut self,
        req: &Request,
        caller: &Caller,
    ) -> Result<Caller, Box<Outcome>> {
        let from = match &req.head.from.uri {
            Uri::Sip(from) => from
                .user
                .as_deref()
                .map(|u| (self.domain_of(&from.host), sip::unescape(u))),
            _ => None,
        };
        match from {
            Some((domain, user)) if domain == caller.domain && user == caller.user => {
                Ok(caller.clone())
            }
            _ => {
                let mut response = Response::to_request(req, StatusCode::FORBIDDEN);
                if response.head.to.tag().is_none() {
                    let tag = format!("{:016x}", self.rng.random::<u64>());
                    response.head.to.params.set("tag", Some(tag));
                }
                Err(Box::new(Outcome {
                    response,
                    events: Vec::new(),
                    auth: AuthResult::NotApplicable,
                }))
            }
        }
    }

    /// Digest-authenticates `req` as `user` of `domain` (RFC 2617, 7616, 8760): `None` when
    /// its credentials are good, else the answer to send (a challenge, a fresh challenge for a
    /// stale nonce, 400 for malformed credentials, 403 for credentials of another user). An
    /// unknown user and a wrong password get the same answer.
    fn authenticate(
        &mut self,
        now: u64,
        req: &Request,
        domain: &str,
        user: &str,
        reply: &dyn Fn(StatusCode) -> Response,
    ) -> Option<Outcome> {
        let (algorithms, ha1s) = {
            let dir = self.state.read_directory();
            let algorithms = dir
                .domain(domain)
                .map(|d| d.domain.digest.clone())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| vec![DigestAlgorithm::Md5]);
            let ha1s = dir.user(domain, user).map(|(_, u)| u.secret.clone());
            (algorithms, ha1s)
        };

        // Credentials for our realm, if any.
        let creds = req
            .head
            .headers
            .get_all(&HeaderName::Authorization)
            .map(Credentials::parse)
            .find(|c| !matches!(c, Ok(c) if c.realm != *domain));
        let creds = match creds {
            // No credentials, or a scheme other than Digest (RFC 4475 section 3.3.7):
            // challenge.
            None | Some(Err(sip::digest::DigestError::UnsupportedScheme { .. })) => {
                return Some(self.challenge(
                    now,
                    domain,
                    &algorithms,
                    false,
                    reply,
                    AuthResult::Challenged,
                ));
            }
            Some(Err(_)) => {
                return Some(Outcome {
                    response: reply(StatusCode::BAD_REQUEST),
                    events: Vec::new(),
                    auth: AuthResult::Failed,
                });
            }
            Some(Ok(c)) => c,
        };
        let Some(alg) = algorithms
            .iter()
            .copied()
            .find(|a| to_sip_alg(*a) == creds.algorithm)
        else {
            // An algorithm this domain does not offer: offer the ones it does.
            return Some(self.challenge(
                now,
                domain,
                &algorithms,
                false,
                reply,
                AuthResult::Challenged,
            ));
        };
        if creds.username != *user {
            // Authenticating as someone else than the To user.
            return Some(Outcome {
                response: reply(StatusCode::FORBIDDEN),
                events: Vec::new(),
                auth: AuthResult::Failed,
            });
        }
        let valid = ha1s
            .as_ref()
            .is_some_and(|s| creds.verify(req.method.as_str(), s.ha1(alg)));
        let request_id = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            req.head.top_via().and_then(|v| v.branch()).hash(&mut h);
            req.head.call_id.hash(&mut h);
            req.head.cseq.seq.hash(&mut h);
            h.finish()
        };
        match self.nonces.check(now, &creds.nonce, creds.nc, request_id) {
            // A retransmission of an answered REGISTER is processed again: the bindings it
            // made are already there (same Call-ID and CSeq, RFC 3261 section 10.3 step 7), so
            // the answer lists the same bindings.
            NonceCheck::Fresh | NonceCheck::Retransmission if valid => {}
            //= https://www.rfc-editor.org/rfc/rfc7616#section-3.3
            //# stale: A case-insensitive flag indicating that the previous request from the
            //# client was rejected because the nonce value was stale. If stale is true, the
            //# client may wish to simply retry the request with a new encrypted response.
            NonceCheck::Stale if valid => {
                return Some(self.challenge(
                    now,
                    domain,
                    &algorithms,
                    true,
                    reply,
                    AuthResult::Challenged,
                ));
            }
            // Wrong password, unknown user, forged or replayed nonce: the same answer for all,
            // so that nothing tells a guesser which it was.
            _ => {
                return Some(self.challenge(
                    now,
                    domain,
                    &algorithms,
                    false,
                    reply,
                    AuthResult::Failed,
                ));
            }
        }

        None
    }

    fn challenge(
        &mut self,
        now: u64,
        domain: &str,
        algorithms: &[DigestAlgorithm],
        stale: bool,
        reply: impl Fn(StatusCode) -> Response,
        auth: AuthResult,
    ) -> Outcome {
        let mut resp = reply(StatusCode::UNAUTHORIZED);
        let nonce = self.nonces.issue(now);
        //= https://www.rfc-editor.org/rfc/rfc8760#section-2.4
        //# the UAS [...] MUST add a WWW-Authenticate header field for each supported
        //# algorithm, in order of preference
        for alg in algorithms {
            let challenge = Challenge {
                realm: domain.to_owned(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm: to_sip_alg(*alg),
                qop: vec![Qop::Auth],
                stale,
            };
            resp.head
                .headers
                .push(HeaderName::WwwAuthenticate, challenge.to_string());
        }
        Outcome {
            response: resp,
            events: Vec::new(),
            auth,
        }
    }

    fn update_bindings(
        &mut self,
        now: u64,
        req: &Request,
        domain: &str,
        user: &str,
        flow: Flow,
        reply: impl Fn(StatusCode) -> Response,
    ) -> Outcome {
        let cfg = self.config;
        let header_expires = req.head.expires();
        // At most 256 characters of the User-Agent.
        let agent = req.head.get(&HeaderName::UserAgent).unwrap_or("");
        let agent = agent
            .char_indices()
            .nth(256)
            .map_or(agent, |(end, _)| agent.get(..end).unwrap_or(agent));
        let mut location = self
            .state
            .location
            .write()
            .unwrap_or_else(|e| e.into_inner());
        // The user may have been deleted (HTTP API or 9P) since it authenticated. A deletion
        // takes the user out of the directory first and drops its bindings under this lock
        // after, so a user still in the directory here has its binding dropped by that
        // deletion, and one already gone gets none: no binding outlives its user.
        let exists = self.state.read_directory().user(domain, user).is_some();
        if !exists {
            drop(location);
            return Outcome {
                response: reply(StatusCode::NOT_FOUND),
                events: Vec::new(),
                auth: AuthResult::Succeeded,
            };
        }
        let before = location.bindings(domain, user);
        let had_bindings = !before.is_empty();
        // Room for every binding the request could add, so that the list never grows by
        // doubling; Location::set keeps an exact-size copy.
        let mut bindings = Vec::with_capacity(before.len() + req.head.contact.len());
        bindings.extend_from_slice(before);

        let star = req.head.contact.iter().any(|c| matches!(c, Contact::Star));
        if star {
            //= https://www.rfc-editor.org/rfc/rfc3261#section-10.3
            //# If the request has additional Contact fields or an expiration time other than
            //# zero, the request is invalid, and the server MUST respond with 400.
            if req.head.contact.len() != 1 || header_expires != Some(0) {
                drop(location);
                return Outcome {
                    response: reply(StatusCode::BAD_REQUEST),
                    events: Vec::new(),
                    auth: AuthResult::Succeeded,
                };
            }
            bindings.clear();
        }
        // The shared names and agent, looked up once the first binding is made.
        let mut shared: Option<(Arc<str>, Arc<str>, Arc<str>)> = None;
        for contact in req.head.contact.iter().filter_map(Contact::addr) {
            // Written into a reused buffer: the binding made from it keeps an exact-size
            // copy, and a refresh that changes nothing allocates nothing. Long-lived
            // allocations of exact size, rather than strings grown by doubling and shrunk,
            // leave no holes in the heap between them (measured: RSS per registration).
            self.scratch.clear();
            // Writing into a String cannot fail.
            let _ = write!(self.scratch, "{}", contact.uri);
            let uri = self.scratch.as_str();
            let requested = contact
                .params
                .value("expires")
                .and_then(|v| v.parse::<u64>().ok())
                .map(|v| v.min(u64::from(u32::MAX)) as u32)
                .or(header_expires)
                .unwrap_or(cfg.default_expires);
            if requested != 0 && requested < cfg.min_expires {
                drop(location);
                let mut resp = reply(StatusCode::INTERVAL_TOO_BRIEF);
                resp.head
                    .headers
                    .push(HeaderName::MinExpires, cfg.min_expires.to_string());
                return Outcome {
                    response: resp,
                    events: Vec::new(),
                    auth: AuthResult::Succeeded,
                };
            }
            let existing = bindings.iter().position(|b| &*b.contact == uri);
            if let Some(i) = existing {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-10.3
                //# If the binding does exist, the registrar checks the Call-ID value. If the
                //# Call-ID value in the existing binding matches [...] and the CSeq value is
                //# less than or equal to the current value, the update MUST be skipped.
                let b = &bindings[i];
                if *b.call_id == *req.head.call_id && req.head.cseq.seq <= b.cseq {
                    continue;
                }
            }
            if requested == 0 {
                if let Some(i) = existing {
                    bindings.remove(i);
                }
                continue;
            }
            let expires_at = now + u64::from(requested.min(cfg.max_expires));
            let registered_at = existing.map_or(now, |i| bindings[i].registered_at);
            let (shared_domain, shared_user, shared_agent) = shared
                .get_or_insert_with(|| {
                    let (d, u) = location.names(domain, user);
                    (d, u, location.agent(agent))
                })
                .clone();
            let binding = Binding {
                domain: shared_domain,
                user: shared_user,
                contact: uri.into(),
                flow: flow.clone(),
                agent: shared_agent,
                call_id: req.head.call_id.as_str().into(),
                cseq: req.head.cseq.seq,
                registered_at,
                expires_at,
                outstanding_pings: 0,
            };
            match existing {
                Some(i) => bindings[i] = binding,
                None => bindings.push(binding),
            }
        }
        // Oldest first; beyond the bound the oldest give way.
        bindings.sort_by_key(|b| b.registered_at);
        let excess = bindings.len().saturating_sub(cfg.max_contacts);
        bindings.drain(..excess);

        let mut resp = reply(StatusCode::OK);
        for b in &bindings {
            if let Some(uri) = Uri::parse(&b.contact) {
                let mut na = NameAddr::new(uri);
                na.params.set(
                    "expires",
                    Some(b.expires_at.saturating_sub(now).to_string()),
                );
                resp.head.contact.push(Contact::Addr(na));
            }
        }
        resp.head
            .headers
            .push(HeaderName::Date, crate::time::http_date(now));

        let mut events = Vec::new();
        if !had_bindings && !bindings.is_empty() {
            events.push(RegEvent::Registered {
                domain: domain.to_owned(),
                user: user.to_owned(),
                host: flow.remote.ip().to_string(),
                port: flow.remote.port(),
                agent: agent.to_owned(),
            });
        } else if had_bindings && bindings.is_empty() {
            events.push(RegEvent::Unregistered {
                domain: domain.to_owned(),
                user: user.to_owned(),
            });
        }
        if bindings != location.bindings(domain, user) {
            location.set(domain, user, bindings);
        }
        Outcome {
            response: resp,
            events,
            auth: AuthResult::Succeeded,
        }
    }

    /// The OPTIONS keepalives due at `now` (RFC 3261 section 11; the "qualify" of other
    /// PBXs), one per binding per interval, spread over the interval by a hash of the contact
    /// so that they do not all go at once. Each one sent counts as outstanding until
    /// [`Registrar::ping_answered`]; a binding with `keepalive_failures` outstanding is dropped
    /// instead of pinged again, and the events say which users that left with no binding.
    ///
    /// `sent_by` is the host and port for the Via header.
    pub fn due_pings(&mut self, now: u64, sent_by: &str) -> (Vec<Ping>, Vec<RegEvent>) {
        let interval = self.config.keepalive_interval;
        if interval == 0 {
            return (Vec::new(), Vec::new());
        }
        let max = self.config.keepalive_failures;
        let due = |contact: &str| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            contact.hash(&mut h);
            h.finish() % interval == now % interval
        };
        let mut targets = Vec::new();
        let mut dead = false;
        {
            let mut location = self
                .state
                .location
                .write()
                .unwrap_or_else(|e| e.into_inner());
            for b in location.iter_mut_unsaved() {
                // A sip.sock binding lives while its file is open; the 9P connection is
                // its liveness.
                if !due(&b.contact) || b.registered_at == now || is_virtual(&b.flow) {
                    continue;
                }
                if b.outstanding_pings >= max {
                    dead = true;
                    continue;
                }
                b.outstanding_pings += 1;
                targets.push((
                    b.domain.to_string(),
                    b.user.to_string(),
                    b.contact.to_string(),
                    b.flow.clone(),
                ));
            }
        }
        let events = if dead {
            self.retain(|b| b.outstanding_pings < max)
        } else {
            Vec::new()
        };
        let pings = targets
            .into_iter()
            .filter_map(|(domain, user, contact, flow)| {
                let request = self.ping_request(&domain, &contact, &flow, sent_by)?;
                Some(Ping {
                    domain,
                    user,
                    contact,
                    flow,
                    request,
                })
            })
            .collect();
        (pings, events)
    }

    /// A keepalive got an answer (any response: the phone is there): its binding has no
    /// outstanding ping any more.
    pub fn ping_answered(&mut self, domain: &str, user: &str, contact: &str) {
        let mut location = self
            .state
            .location
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for b in location.bindings_mut_unsaved(domain, user) {
            if *b.contact == *contact {
                b.outstanding_pings = 0;
            }
        }
    }

    fn ping_request(
        &mut self,
        domain: &str,
        contact: &str,
        flow: &Flow,
        sent_by: &str,
    ) -> Option<Request> {
        let branch = format!("z9hG4bK{:016x}", self.rng.random::<u64>());
        let tag = format!("{:016x}", self.rng.random::<u64>());
        let call_id = format!(
            "{:016x}{:016x}",
            self.rng.random::<u64>(),
            self.rng.random::<u64>()
        );
        let transport = flow.transport.as_str();
        let raw = format!(
            "OPTIONS {contact} SIP/2.0\r\nVia: SIP/2.0/{transport} {sent_by};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:keepalive@{domain}>;tag={tag}\r\nTo: <{contact}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        match sip::Message::parse(raw.as_bytes()) {
            Ok(sip::Message::Request(r)) => Some(r),
            _ => None,
        }
    }

    /// Removes bindings that expired by `now`; returns the users left with none.
    /// Bindings of `sip.sock` files do not expire: they end when the file is clunked.
    pub fn expire(&mut self, now: u64) -> Vec<RegEvent> {
        self.retain(|b| b.expires_at > now || is_virtual(&b.flow))
    }

    /// Removes the bindings made over a TCP connection that closed.
    pub fn connection_closed(&mut self, conn: u64) -> Vec<RegEvent> {
        self.retain(|b| b.flow.conn != Some(conn))
    }

    fn retain(&mut self, keep: impl Fn(&Binding) -> bool) -> Vec<RegEvent> {
        let mut location = self
            .state
            .location
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let affected: Vec<(Arc<str>, Arc<str>)> = location
            .iter()
            .filter(|b| !keep(b))
            .map(|b| (b.domain.clone(), b.user.clone()))
            .collect();
        let mut events = Vec::new();
        for (domain, user) in affected {
            let kept: Vec<Binding> = location
                .bindings(&domain, &user)
                .iter()
                .filter(|b| keep(b))
                .cloned()
                .collect();
            if kept.len() == location.bindings(&domain, &user).len() {
                continue;
            }
            if kept.is_empty() {
                events.push(RegEvent::Unregistered {
                    domain: domain.to_string(),
                    user: user.to_string(),
                });
            }
            location.set(&domain, &user, kept);
        }
        events
    }
}

#[cfg(test)]
mod tests;
