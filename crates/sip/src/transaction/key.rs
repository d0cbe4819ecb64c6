//! Transaction matching keys (RFC 3261 sections 17.1.3 and 17.2.3).

use crate::addr::Via;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::Host;

/// The RFC 3261 magic cookie that starts every branch made by an RFC 3261 element.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Which side of a transaction a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A client transaction: we sent the request.
    Client,
    /// A server transaction: we received the request.
    Server,
}

/// The key that matches messages to one transaction.
///
/// Client keys are the top Via branch and the CSeq method (RFC 3261 section 17.1.3). Server
/// keys are the branch, the sent-by and the method, with ACK folded into INVITE (section
/// 17.2.3); for requests whose branch lacks the magic cookie (RFC 2543 peers) the key is the
/// Request-URI, From tag, Call-ID, CSeq number, method (ACK folded into INVITE) and the whole
/// top Via. The To tag of section 17.2.3's RFC 2543 rule is left out: the ACK carries the tag
/// of our response, which the INVITE did not, and the other fields already single the
/// transaction out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    role: Role,
    id: KeyId,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyId {
    Branch {
        branch: String,
        /// Server keys only: the normalized sent-by host and the port as written.
        sent_by: Option<(String, Option<u16>)>,
        method: Method,
    },
    Rfc2543 {
        request_uri: String,
        from_tag: Option<String>,
        call_id: String,
        cseq: u32,
        method: Method,
        top_via: String,
    },
}

impl TransactionKey {
    /// The key of the client transaction a request opens: `None` without a top Via branch
    /// carrying the magic cookie (our own requests always have one).
    pub fn client_for_request(request: &Request) -> Option<Self> {
        let branch = request.head.top_via()?.branch()?;
        branch.starts_with(MAGIC_COOKIE).then(|| Self {
            role: Role::Client,
            id: KeyId::Branch {
                branch: branch.to_owned(),
                sent_by: None,
                method: request.method.clone(),
            },
        })
    }

    /// The key of the client transaction a response belongs to: `None` when its top Via has
    /// no branch.
    pub fn client_for_response(response: &Response) -> Option<Self> {
        //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.3
        //# 1.  If the response has the same value of the branch parameter in
        //#     the top Via header field as the branch parameter in the top
        //#     Via header field of the request that created the transaction.
        //#
        //# 2.  If the method parameter in the CSeq header field matches the
        //#     method of the request that created the transaction.
        let branch = response.head.top_via()?.branch()?;
        Some(Self {
            role: Role::Client,
            id: KeyId::Branch {
                branch: branch.to_owned(),
                sent_by: None,
                method: response.head.cseq.method.clone(),
            },
        })
    }

    /// The key of the server transaction a received request belongs to (an ACK gives the
    /// key of its INVITE): `None` when it has no Via.
    pub fn server_for_request(request: &Request) -> Option<Self> {
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        Self::server(request, method)
    }

    /// The key of the INVITE server transaction that a CANCEL cancels (RFC 3261 section 9.2:
    /// the section 17.2.3 rules with the method taken as INVITE).
    pub fn server_cancelled_by(cancel: &Request) -> Option<Self> {
        Self::server(cancel, Method::Invite)
    }

    fn server(request: &Request, method: Method) -> Option<Self> {
        let via = request.head.top_via()?;
        let id = match via.branch() {
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.3
            //# 1. the branch parameter in the request is equal to the one in the
            //#    top Via header field of the request that created the
            //#    transaction, and
            //#
            //# 2. the sent-by value in the top Via of the request is equal to the
            //#    one in the request that created the transaction, and
            //#
            //# 3. the method of the request matches the one that created the
            //#    transaction, except for ACK, where the method of the request
            //#    that created the transaction is INVITE.
            Some(b) if b.starts_with(MAGIC_COOKIE) => KeyId::Branch {
                branch: b.to_owned(),
                sent_by: Some(sent_by(via)),
                method,
            },
            _ => KeyId::Rfc2543 {
                request_uri: request.uri.to_string(),
                from_tag: request.head.from.tag().map(str::to_owned),
                call_id: request.head.call_id.clone(),
                cseq: request.head.cseq.seq,
                method,
                top_via: via.to_string(),
            },
        };
        Some(Self {
            role: Role::Server,
            id,
        })
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The branch, for RFC 3261 keys.
    pub fn branch(&self) -> Option<&str> {
        match &self.id {
            KeyId::Branch { branch, .. } => Some(branch),
            KeyId::Rfc2543 { .. } => None,
        }
    }

    /// The method of the request that created the transaction.
    pub fn method(&self) -> &Method {
        match &self.id {
            KeyId::Branch { method, .. } | KeyId::Rfc2543 { method, .. } => method,
        }
    }
}

/// The sent-by in a form that compares as RFC 3261 section 19.1.4 compares hosts.
fn sent_by(via: &Via) -> (String, Option<u16>) {
    let host = match &via.host {
        Host::Name(n) => n.trim_end_matches('.').to_ascii_lowercase(),
        other => other.to_string(),
    };
    (host, via.port)
}
