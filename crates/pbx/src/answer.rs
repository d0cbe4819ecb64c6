//! The answers the PBX gives for itself: OPTIONS pings, and the refusals of RFC 3261
//! section 8.2 (method, URI scheme, extensions, hop count) for everything it cannot serve.

use rand::{Rng, rngs::StdRng};
use sip::{HeaderName, Host, Method, Request, Response, StatusCode, Uri};

/// The option tags (RFC 3261 section 19.2) this build supports: session timers (RFC 4028).
pub(crate) const SUPPORTED: &[&str] = &["timer"];

/// Who the PBX is: the hosts that name it, and how it introduces itself.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Its own addresses and domains. A request whose Request-URI host is one of these is
    /// addressed to the PBX itself, whatever the port (DESIGN.md section 15).
    pub hosts: Vec<Host>,
    /// The Server header value.
    pub server: String,
    /// The methods the wired applications serve, for Allow headers (RFC 3261 section 20.5).
    pub allow: Vec<Method>,
}

impl Identity {
    /// True when `host` names the PBX.
    pub fn is_own(&self, host: &Host) -> bool {
        self.hosts.iter().any(|h| h.matches(host))
    }

    /// True when a request for `uri` is addressed to the PBX itself rather than to someone the
    /// PBX would forward it to. A SIP URI without a user part can only mean the server.
    pub fn is_for_us(&self, uri: &Uri) -> bool {
        match uri {
            Uri::Sip(u) => u.user.is_none() || self.is_own(&u.host),
            _ => false,
        }
    }
}

/// The application that answers requests the PBX serves itself.
pub struct Answers {
    identity: Identity,
    rng: StdRng,
    /// Keys the To tags of stateless answers, so that a peer cannot predict them.
    tag_key: u64,
}

impl Answers {
    /// `rng` makes To tags; tests seed it.
    pub fn new(identity: Identity, mut rng: StdRng) -> Self {
        let tag_key = rng.random();
        Self {
            identity,
            rng,
            tag_key,
        }
    }

    /// The answer to a request that the PBX answers without keeping transaction state
    /// (RFC 3261 section 8.2.7), or `None` when the request needs a transaction.
    ///
    /// OPTIONS qualifies: its answer depends only on the request, so a retransmission is
    /// answered again, identically, with the To tag derived from the request. Keepalive pings
    /// are the bulk of a PBX's traffic, and 32 s of Timer J state for each would cost more
    /// than the answer.
    ///
    //= https://www.rfc-editor.org/rfc/rfc3261#section-8.2.7
    //# If a stateless UAS receives a retransmission of a request, it regenerates the
    //# response and resends it, just as if it were replying to the first instance of the
    //# request. [...] To header tags MUST be generated for responses in a stateless manner -
    //# in a manner that will generate the same tag for the same request consistently.
    pub fn stateless(&mut self, req: &Request) -> Option<Response> {
        if req.method != Method::Options {
            return None;
        }
        let tag = self.stateless_tag(req);
        self.decide(req, &tag)
    }

    /// A fresh tag for a To header (RFC 3261 section 19.3: at least 32 bits of randomness).
    pub fn tag(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    /// The same tag for the same request: a keyed hash of what identifies it (its top Via
    /// branch, Call-ID, From tag and CSeq).
    fn stateless_tag(&self, req: &Request) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.tag_key.hash(&mut h);
        req.head.top_via().and_then(|v| v.branch()).hash(&mut h);
        req.head.call_id.hash(&mut h);
        req.head.from.tag().hash(&mut h);
        req.head.cseq.seq.hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// The answer to a request that opened a new server transaction, or `None` for a request
    /// that is never answered (ACK).
    ///
    /// The checks run in the order of RFC 3261 section 8.2: method, then Request-URI scheme
    /// and extensions, then what the request asks for.
    pub fn handle_request(&mut self, req: &Request) -> Option<Response> {
        let tag = self.tag();
        self.decide(req, &tag)
    }

    /// The refusal a request the PBX would act on gets before any application sees it
    /// (unsupported URI scheme, unknown required extension, Max-Forwards exhausted), or `None`
    /// when it may go on.
    pub fn precheck(&mut self, req: &Request) -> Option<Response> {
        if req.method == Method::Ack {
            return None;
        }
        let tag = self.tag();
        self.refusal(req, &tag)
    }

    fn decide(&mut self, req: &Request, tag: &str) -> Option<Response> {
        if req.method == Method::Ack {
            return None;
        }
        if let Some(refusal) = self.refusal(req, tag) {
            return Some(refusal);
        }
        let for_us = self.identity.is_for_us(&req.uri);
        Some(match req.method {
            Method::Options if for_us => self.options(req, tag),
            //= https://www.rfc-editor.org/rfc/rfc3261#section-9.2
            //# If the UAS did not find a matching transaction for the CANCEL according to the
            //# procedure above, it SHOULD respond to the CANCEL with a 481.
            Method::Cancel => self.refuse(req, StatusCode::CALL_DOES_NOT_EXIST, tag),
            // Not an open relay: a ping for a foreign domain goes nowhere.
            Method::Options => self.refuse(req, StatusCode::FORBIDDEN, tag),
            _ => self.refuse(req, StatusCode::METHOD_NOT_ALLOWED, tag),
        })
    }

    /// The section 8.2 checks every request passes before anyone acts on it.
    fn refusal(&self, req: &Request, tag: &str) -> Option<Response> {
        let for_us = self.identity.is_for_us(&req.uri);
        // A request the PBX would pass on toward someone else (a call, a message, a ping for a
        // foreign domain), rather than consume itself.
        let would_forward = match req.method {
            Method::Options => !for_us,
            Method::Register | Method::Cancel | Method::Extension(_) => false,
            _ => true,
        };

        //= https://www.rfc-editor.org/rfc/rfc3261#section-8.2.1
        //# If a UAS recognizes but does not support a method, it MUST respond with 405
        //# (Method Not Allowed) [...] a 501 (Not Implemented) for an unrecognized method.
        if let Method::Extension(_) = req.method {
            return Some(self.refuse(req, StatusCode::NOT_IMPLEMENTED, tag));
        }

        //= https://www.rfc-editor.org/rfc/rfc3261#section-8.2.2.1
        //# If the Request-URI uses a scheme not supported by the UAS, it SHOULD reject the
        //# request with a 416 (Unsupported URI Scheme) response.
        if !matches!(req.uri, Uri::Sip(_) | Uri::Tel(_)) {
            return Some(self.refuse(req, StatusCode::UNSUPPORTED_URI_SCHEME, tag));
        }

        //= https://www.rfc-editor.org/rfc/rfc3261#section-8.2.2.3
        //# If a UAS does not understand an option-tag listed in a Require header field, it
        //# MUST respond by generating a response with status code 420 (Bad Extension).
        //# [...] the UAS MUST NOT apply [this] to ACK or CANCEL requests.
        if req.method != Method::Cancel {
            let mut unknown: Vec<&str> = req.head.headers.tokens(&HeaderName::Require).collect();
            if would_forward {
                unknown.extend(req.head.headers.tokens(&HeaderName::ProxyRequire));
            }
            unknown.retain(|t| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)));
            if !unknown.is_empty() {
                let mut resp = self.refuse(req, StatusCode::BAD_EXTENSION, tag);
                resp.head
                    .headers
                    .push(HeaderName::Unsupported, unknown.join(", "));
                return Some(resp);
            }
        }

        //= https://www.rfc-editor.org/rfc/rfc3261#section-16.3
        //# If the Max-Forwards value is zero, the element MUST NOT forward the request [...]
        //# the element MUST respond with 483 (Too many hops).
        if would_forward && req.head.max_forwards == Some(0) {
            return Some(self.refuse(req, StatusCode::TOO_MANY_HOPS, tag));
        }
        None
    }

    /// The answer to a CANCEL that matched a live server transaction.
    ///
    //= https://www.rfc-editor.org/rfc/rfc3261#section-9.2
    //# Regardless of the method of the original request, as long as the CANCEL matched an
    //# existing transaction, the UAS answers the CANCEL request itself with a 200 (OK).
    pub fn cancel_matched(&mut self, cancel: &Request) -> Response {
        let tag = self.tag();
        self.answer(cancel, StatusCode::OK, &tag)
    }

    /// 200 to an OPTIONS addressed to the PBX: what it allows, accepts and supports
    /// (RFC 3261 section 11.2).
    fn options(&self, req: &Request, tag: &str) -> Response {
        let mut resp = self.answer(req, StatusCode::OK, tag);
        let h = &mut resp.head.headers;
        h.push(HeaderName::Allow, self.allow());
        h.push(HeaderName::Accept, "application/sdp");
        h.push(HeaderName::AcceptEncoding, "identity");
        h.push(HeaderName::AcceptLanguage, "en");
        h.push(HeaderName::Supported, SUPPORTED.join(", "));
        resp
    }

    /// A refusal; 405 carries the Allow header (RFC 3261 section 21.4.6).
    fn refuse(&self, req: &Request, status: StatusCode, tag: &str) -> Response {
        let mut resp = self.answer(req, status, tag);
        if status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_IMPLEMENTED {
            resp.head.headers.push(HeaderName::Allow, self.allow());
        }
        resp
    }

    fn allow(&self) -> String {
        let methods: Vec<&str> = self.identity.allow.iter().map(Method::as_str).collect();
        methods.join(", ")
    }

    fn answer(&self, req: &Request, status: StatusCode, tag: &str) -> Response {
        let mut resp = Response::to_request(req, status);
        //= https://www.rfc-editor.org/rfc/rfc3261#section-8.2.6.2
        //# the UAS MUST add a tag to the To header field in the response (with the exception
        //# of the 100 (Trying) response, in which a tag MAY be present).
        if resp.head.to.tag().is_none() {
            resp.head.to.params.set("tag", Some(tag.to_owned()));
        }
        resp.head
            .headers
            .push(HeaderName::Server, self.identity.server.clone());
        resp
    }
}

#[cfg(test)]
mod tests;
