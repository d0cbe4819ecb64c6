//! The client INVITE transaction (RFC 3261 section 17.1.1, figure 5, as amended by RFC 6026).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timer::TimerTable;
use super::{ClientEvent, Outputs, State, Timer, TimerConfig};
use crate::addr::{CSeq, Transport};
use crate::header::Headers;
use crate::message::{Head, Request, Response};
use crate::method::Method;

/// Client INVITE transaction (RFC 3261 section 17.1.1, as amended by RFC 6026).
///
/// Created with the INVITE, which it queues for transmission at once. Feed it with
/// [`handle_response`](Self::handle_response), [`handle_timeout`](Self::handle_timeout) and
/// [`handle_transport_error`](Self::handle_transport_error); after each call drain, in order,
/// [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout) and
/// [`poll_event`](Self::poll_event). It never touches a socket or a clock.
///
/// It retransmits the INVITE on Timer A (unreliable transports), gives up on Timer B, builds
/// and sends the ACK for a non-2xx final response (again for each retransmission of that
/// response), and passes 2xx responses to the TU, whose job the ACK for them is.
#[derive(Debug, Clone)]
pub struct ClientInvite {
    state: State,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    /// The current Timer A interval.
    interval_a: Duration,
    request: Request,
    request_bytes: Bytes,
    ack: Option<Bytes>,
    out: Outputs<ClientEvent>,
}

impl ClientInvite {
    /// Starts the transaction for `request` (an INVITE) sent over `transport`, and queues
    /// the request for transmission.
    pub fn new(now: Instant, request: Request, transport: &Transport, config: TimerConfig) -> Self {
        let reliable = transport.is_reliable();
        let request_bytes = Bytes::from(request.to_bytes());
        let mut tx = Self {
            state: State::Calling,
            reliable,
            config,
            timers: TimerTable::default(),
            interval_a: config.t1,
            request,
            request_bytes: request_bytes.clone(),
            ack: None,
            out: Outputs::default(),
        };
        tx.out.transmits.push_back(request_bytes);
        //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
        //# If an unreliable transport is being used, the client transaction MUST start timer
        //# A with a value of T1.  If a reliable transport is being used, the client
        //# transaction SHOULD NOT start timer A (Timer A controls request retransmissions).
        //# For any transport, the client transaction MUST start timer B with a value of 64*T1
        //# seconds (Timer B controls transaction timeouts).
        if !reliable {
            tx.timers.start(Timer::A, now, config.t1);
        }
        tx.timers.start(Timer::B, now, config.timeout());
        tx
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The request that created the transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The deadline of `timer`, when armed.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// True once the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// A response that matched this transaction (RFC 3261 section 17.1.3).
    pub fn handle_response(&mut self, now: Instant, response: Response) {
        let status = response.status;
        match self.state {
            State::Calling | State::Proceeding if status.is_provisional() => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
                //# If the client transaction receives a provisional response while in the
                //# "Calling" state, it transitions to the "Proceeding" state. In the
                //# "Proceeding" state, the client transaction SHOULD NOT retransmit the
                //# request any longer. Furthermore, the provisional response MUST be passed
                //# to the TU.
                // Timer B only fires in Calling (figure 5): a ringing phone may ring for
                // longer than 32 s, and the TU ends it with CANCEL.
                self.timers.stop(Timer::A);
                self.timers.stop(Timer::B);
                self.state = State::Proceeding;
                self.out
                    .events
                    .push_back(ClientEvent::Provisional(response));
            }
            State::Calling | State::Proceeding if status.is_success() => {
                //= https://www.rfc-editor.org/rfc/rfc6026
                //# When in either the "Calling" or "Proceeding" states, reception of a 2xx
                //# response MUST cause the client transaction to enter the "Accepted" state,
                //# and the response MUST be passed up to the TU.  The client transaction
                //# MUST NOT generate an ACK to the 2xx response -- its handling is delegated
                //# to the TU.
                self.timers.stop_all();
                self.state = State::Accepted;
                self.timers.start(Timer::M, now, self.config.timeout());
                self.out.events.push_back(ClientEvent::Final(response));
            }
            State::Calling | State::Proceeding => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
                //# When in either the "Calling" or "Proceeding" states, reception of a
                //# response with status code from 300-699 MUST cause the client transaction
                //# to transition to "Completed".  The client transaction MUST pass the
                //# received response up to the TU, and the client transaction MUST generate
                //# an ACK request, even if the transport is reliable
                self.timers.stop_all();
                let ack = Bytes::from(self.build_ack(&response).to_bytes());
                self.out.transmits.push_back(ack.clone());
                self.ack = Some(ack);
                self.state = State::Completed;
                self.out.events.push_back(ClientEvent::Final(response));
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
                //# The client transaction SHOULD start timer D when it enters the
                //# "Completed" state, with a value of at least 32 seconds for unreliable
                //# transports, and a value of zero seconds for reliable transports.
                if self.reliable {
                    self.terminate();
                } else {
                    self.timers.start(Timer::D, now, self.config.timer_d);
                }
            }
            State::Accepted if status.is_success() => {
                //= https://www.rfc-editor.org/rfc/rfc6026
                //# Any 2xx responses that match this client transaction and that are
                //# received while in the "Accepted" state MUST be passed up to the TU.
                self.out
                    .events
                    .push_back(ClientEvent::AdditionalSuccess(response));
            }
            State::Completed if status.is_final() && !status.is_success() => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
                //# Any retransmissions of the final response that are received while in the
                //# "Completed" state MUST cause the ACK to be re-passed to the transport
                //# layer for retransmission, but the newly received response MUST NOT be
                //# passed up to the TU.
                if let Some(ack) = &self.ack {
                    self.out.transmits.push_back(ack.clone());
                }
            }
            // Late provisionals, a non-2xx after a 2xx, a 2xx after a non-2xx: dropped.
            _ => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.next_expired(now) {
            self.timers.stop(timer);
            match (timer, self.state) {
                (Timer::A, State::Calling) => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
                    //# When timer A fires, the client transaction MUST retransmit the request
                    //# by passing it to the transport layer, and MUST reset the timer with a
                    //# value of 2*T1.
                    self.out.transmits.push_back(self.request_bytes.clone());
                    self.interval_a = self.interval_a.saturating_mul(2);
                    self.timers.start(Timer::A, now, self.interval_a);
                }
                (Timer::B, State::Calling) => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
                    //# If the client transaction is still in the "Calling" state when timer B
                    //# fires, the client transaction SHOULD inform the TU that a timeout has
                    //# occurred.  The client transaction MUST NOT generate an ACK.
                    self.out.events.push_back(ClientEvent::Timeout);
                    self.terminate();
                }
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.2
                //# If timer D fires while the client transaction is in the "Completed" state,
                //# the client transaction MUST move to the terminated state.
                (Timer::D, State::Completed) => self.terminate(),
                //= https://www.rfc-editor.org/rfc/rfc6026
                //# If Timer M fires while the client transaction is in the "Accepted" state,
                //# the client transaction MUST move to the "Terminated" state.
                (Timer::M, State::Accepted) => self.terminate(),
                _ => {}
            }
        }
    }

    /// The driver could not deliver the request (RFC 3261 section 17.1.1.2: inform the TU
    /// and terminate).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if self.state != State::Terminated {
            self.out.events.push_back(ClientEvent::TransportError);
            self.terminate();
        }
    }

    /// The next message to send: the INVITE, a retransmission of it, or the ACK.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.out.events.pop_front()
    }

    fn terminate(&mut self) {
        self.timers.stop_all();
        self.state = State::Terminated;
        self.out.events.push_back(ClientEvent::Terminated);
    }

    /// The ACK for a non-2xx final response.
    fn build_ack(&self, response: &Response) -> Request {
        //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.1.3
        //# The ACK request constructed by the client transaction MUST contain values for the
        //# Call-ID, From, and Request-URI that are equal to the values of those header fields
        //# in the request passed to the transport by the client transaction (call this the
        //# "original request").  The To header field in the ACK MUST equal the To header
        //# field in the response being acknowledged, and therefore will usually differ from
        //# the To header field in the original request by the addition of the tag
        //# parameter.  The ACK MUST contain a single Via header field, and this MUST be
        //# equal to the top Via header field of the original request.  The CSeq header field
        //# in the ACK MUST contain the same value for the sequence number as was present in
        //# the original request, but the method parameter MUST be equal to "ACK".
        //#
        //# If the INVITE request whose response is being acknowledged had Route header
        //# fields, those header fields MUST appear in the ACK.
        let orig = &self.request.head;
        Request {
            method: Method::Ack,
            uri: self.request.uri.clone(),
            head: Head {
                via: orig.via.first().cloned().into_iter().collect(),
                route: orig.route.clone(),
                record_route: Vec::new(),
                max_forwards: Some(orig.max_forwards.unwrap_or(70)),
                from: orig.from.clone(),
                to: response.head.to.clone(),
                call_id: orig.call_id.clone(),
                cseq: CSeq {
                    seq: orig.cseq.seq,
                    method: Method::Ack,
                },
                contact: Vec::new(),
                headers: Headers::new(),
            },
            body: Bytes::new(),
        }
    }
}
