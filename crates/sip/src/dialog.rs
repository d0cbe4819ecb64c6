//! Dialogs (RFC 3261 section 12): the state two user agents share after an INVITE, and the
//! requests and ACKs sent within it.
//!
//! A [`Dialog`] is built on either side ([`Dialog::uas`] from the request that created it,
//! [`Dialog::uac`] from our request and the response that established it), makes the
//! in-dialog requests ([`Dialog::request`], [`Dialog::ack`]), and checks the CSeq of the
//! requests the peer sends ([`Dialog::accept_remote_cseq`]). It never decides where a request
//! goes on the network: the caller sends it along the flow it knows the peer by.

use bytes::Bytes;

use crate::addr::{CSeq, Contact, NameAddr, Via};
use crate::header::Headers;
use crate::message::{Head, Request, Response};
use crate::method::Method;
use crate::uri::Uri;

/// One side of a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our URI and display name, as the From of our requests (tag added when sending).
    pub local: NameAddr,
    /// The peer's URI and display name, as the To of our requests.
    pub remote: NameAddr,
    /// Where in-dialog requests are addressed: the peer's Contact.
    pub remote_target: Uri,
    /// The route set, in the order our requests carry it.
    pub route_set: Vec<NameAddr>,
    /// The CSeq of our latest request.
    pub local_seq: u32,
    /// The CSeq of the peer's latest request, once one came.
    pub remote_seq: Option<u32>,
}

/// What [`Dialog::accept_remote_cseq`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CSeqCheck {
    /// A new request: process it.
    New,
    /// A CSeq lower than one already seen: answer 500 (RFC 3261 section 12.2.2).
    OutOfOrder,
}

fn first_contact(contacts: &[Contact]) -> Option<&NameAddr> {
    contacts.iter().find_map(Contact::addr)
}

fn without_tag(addr: &NameAddr) -> NameAddr {
    let mut a = addr.clone();
    a.params.remove("tag");
    a
}

impl Dialog {
    /// The UAS side, from the request that creates the dialog and the tag we put in our
    /// answer's To. `None` when the request lacks a From tag or a Contact.
    //= https://www.rfc-editor.org/rfc/rfc3261#section-12.1.1
    //# The route set MUST be set to the list of URIs in the Record-Route header field from
    //# the request, taken in order and preserving all URI parameters. [...] The remote
    //# target MUST be set to the URI from the Contact header field of the request.
    pub fn uas(request: &Request, local_tag: &str) -> Option<Self> {
        let h = &request.head;
        Some(Self {
            call_id: h.call_id.clone(),
            local_tag: local_tag.to_owned(),
            remote_tag: h.from.tag()?.to_owned(),
            local: without_tag(&h.to),
            remote: without_tag(&h.from),
            remote_target: first_contact(&h.contact)?.uri.clone(),
            route_set: h.record_route.clone(),
            local_seq: 0,
            remote_seq: Some(h.cseq.seq),
        })
    }

    /// The UAC side, from our request and a response with a To tag (a 2xx, or a 1xx that
    /// makes an early dialog). `None` when the response has no To tag. A response without
    /// Contact keeps the request's URI as the target.
    //= https://www.rfc-editor.org/rfc/rfc3261#section-12.1.2
    //# The route set MUST be set to the list of URIs in the Record-Route header field from
    //# the response, taken in reverse order and preserving all URI parameters.
    pub fn uac(request: &Request, response: &Response) -> Option<Self> {
        let h = &request.head;
        let target = first_contact(&response.head.contact)
            .map_or_else(|| request.uri.clone(), |c| c.uri.clone());
        Some(Self {
            call_id: h.call_id.clone(),
            local_tag: h.from.tag()?.to_owned(),
            remote_tag: response.head.to.tag()?.to_owned(),
            local: without_tag(&h.from),
            remote: without_tag(&h.to),
            remote_target: target,
            route_set: response.head.record_route.iter().rev().cloned().collect(),
            local_seq: h.cseq.seq,
            remote_seq: None,
        })
    }

    /// Updates the remote target from the Contact of a target-refresh request or its 2xx
    /// (re-INVITE, UPDATE), when it has one.
    pub fn refresh_target(&mut self, contacts: &[Contact]) {
        if let Some(c) = first_contact(contacts) {
            self.remote_target = c.uri.clone();
        }
    }

    /// Checks and records the CSeq of a request the peer sent in this dialog. ACK and
    /// CANCEL carry the CSeq of the request they belong to and are not checked.
    //= https://www.rfc-editor.org/rfc/rfc3261#section-12.2.2
    //# If the remote sequence number is not empty, but the sequence number of the request is
    //# lower than the remote sequence number, the request is out of order and MUST be
    //# rejected with a 500 (Server Internal Error) response.
    pub fn accept_remote_cseq(&mut self, request: &Request) -> CSeqCheck {
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return CSeqCheck::New;
        }
        let seq = request.head.cseq.seq;
        match self.remote_seq {
            Some(last) if seq < last => CSeqCheck::OutOfOrder,
            _ => {
                self.remote_seq = Some(seq);
                CSeqCheck::New
            }
        }
    }

    fn head(&self, seq: u32, method: Method, via: Via) -> Head {
        let mut from = self.local.clone();
        from.params.set("tag", Some(self.local_tag.clone()));
        let mut to = self.remote.clone();
        to.params.set("tag", Some(self.remote_tag.clone()));
        Head {
            via: vec![via],
            route: self.route_set.clone(),
            record_route: Vec::new(),
            max_forwards: Some(70),
            from,
            to,
            call_id: self.call_id.clone(),
            cseq: CSeq { seq, method },
            contact: Vec::new(),
            headers: Headers::new(),
        }
    }

    /// A new request in the dialog (not ACK, see [`Dialog::ack`]; not CANCEL, which copies
    /// the request it cancels): the next CSeq, addressed to the remote target, with the route
    /// set (loose routing). The caller adds Contact, body and other headers.
    //= https://www.rfc-editor.org/rfc/rfc3261#section-12.2.1.1
    //# Requests within a dialog MUST contain strictly monotonically increasing and
    //# contiguous CSeq sequence numbers (increasing-by-one) in each direction
    pub fn request(&mut self, method: Method, via: Via) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1);
        Request {
            uri: self.remote_target.clone(),
            head: self.head(self.local_seq, method.clone(), via),
            method,
            body: Bytes::new(),
        }
    }

    /// The ACK for a 2xx to our INVITE with CSeq `invite_seq`.
    //= https://www.rfc-editor.org/rfc/rfc3261#section-13.2.2.4
    //# The sequence number of the CSeq header field MUST be the same as the INVITE being
    //# acknowledged, but the CSeq method MUST be ACK.
    pub fn ack(&self, invite_seq: u32, via: Via) -> Request {
        Request {
            uri: self.remote_target.clone(),
            head: self.head(invite_seq, Method::Ack, via),
            method: Method::Ack,
            body: Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Transport};

    fn parse_req(s: &str) -> Request {
        match Message::parse(s.replace('\n', "\r\n").as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn parse_resp(s: &str) -> Response {
        match Message::parse(s.replace('\n', "\r\n").as_bytes()) {
            Ok(Message::Response(r)) => r,
            other => panic!("not a response: {other:?}"),
        }
    }

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa1
Max-Forwards: 70
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
From: \"Alice\" <sip:alice@example.com>;tag=at
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 5 INVITE
Contact: <sip:alice@127.0.0.1:5070>
Content-Length: 0

";

    fn via() -> Via {
        Via::new(
            Transport::Udp,
            crate::Host::parse("127.0.0.1").expect("host"),
            Some(5060),
            "z9hG4bKx",
        )
    }

    #[test]
    fn uas_builds_requests_back_to_the_caller() {
        let inv = parse_req(INVITE);
        let mut d = Dialog::uas(&inv, "bt").expect("dialog");
        let bye = d.request(Method::Bye, via());
        assert_eq!(bye.uri.to_string(), "sip:alice@127.0.0.1:5070");
        assert_eq!(bye.head.from.tag(), Some("bt"));
        assert_eq!(bye.head.to.tag(), Some("at"));
        assert_eq!(bye.head.to.display.as_deref(), Some("\"Alice\""));
        assert_eq!(bye.head.cseq.seq, 1);
        assert_eq!(bye.head.route.len(), 2);
        assert_eq!(bye.head.route[0].uri.to_string(), "sip:p1.example.com;lr");
        // Out-of-order requests from the peer are refused, newer ones accepted.
        let mut older = inv.clone();
        older.head.cseq.seq = 4;
        older.method = Method::Bye;
        assert_eq!(d.accept_remote_cseq(&older), CSeqCheck::OutOfOrder);
        let mut newer = inv;
        newer.head.cseq.seq = 6;
        assert_eq!(d.accept_remote_cseq(&newer), CSeqCheck::New);
        assert_eq!(d.remote_seq, Some(6));
    }

    #[test]
    fn uac_reverses_record_route_and_targets_contact() {
        let inv = parse_req(INVITE);
        let ok = parse_resp(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa1
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
From: \"Alice\" <sip:alice@example.com>;tag=at
To: <sip:bob@example.com>;tag=bt
Call-ID: c1
CSeq: 5 INVITE
Contact: <sip:bob@127.0.0.1:5080;transport=tcp>
Content-Length: 0

",
        );
        let mut d = Dialog::uac(&inv, &ok).expect("dialog");
        let ack = d.ack(5, via());
        assert_eq!(ack.head.cseq.seq, 5);
        assert_eq!(ack.head.cseq.method, Method::Ack);
        assert_eq!(ack.uri.to_string(), "sip:bob@127.0.0.1:5080;transport=tcp");
        assert_eq!(ack.head.route[0].uri.to_string(), "sip:p2.example.com;lr");
        let reinvite = d.request(Method::Invite, via());
        assert_eq!(reinvite.head.cseq.seq, 6);
        assert_eq!(reinvite.head.from.tag(), Some("at"));
        assert_eq!(reinvite.head.to.tag(), Some("bt"));
        // A response without a To tag makes no dialog.
        let mut untagged = ok;
        untagged.head.to.params.remove("tag");
        assert!(Dialog::uac(&inv, &untagged).is_none());
    }
}
