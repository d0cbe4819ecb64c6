//! The server INVITE transaction (RFC 3261 section 17.2.1, figure 7, as amended by RFC 6026).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timer::TimerTable;
use super::{Outputs, ServerEvent, State, Timer, TimerConfig, TransactionError, response_bytes};
use crate::addr::Transport;
use crate::header::HeaderName;
use crate::message::{Request, Response};
use crate::method::{Method, StatusCode};

/// Server INVITE transaction (RFC 3261 section 17.2.1, as amended by RFC 6026).
///
/// Created with the INVITE, which the caller hands to the TU. Feed it with
/// [`handle_request`](Self::handle_request) (retransmissions of the INVITE and ACKs),
/// [`respond`](Self::respond) (the TU's responses), [`handle_timeout`](Self::handle_timeout)
/// and [`handle_transport_error`](Self::handle_transport_error); after each call drain, in
/// order, [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout) and
/// [`poll_event`](Self::poll_event). It never touches a socket or a clock.
///
/// It answers 100 Trying itself when the TU has not answered within 200 ms, re-sends the last
/// response on each retransmitted INVITE, retransmits a non-2xx final response on Timer G
/// until the ACK comes or Timer H gives up, and leaves 2xx retransmission to the TU.
#[derive(Debug, Clone)]
pub struct ServerInvite {
    state: State,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    /// The current Timer G interval.
    interval_g: Duration,
    /// The 100 Trying this transaction sends if the TU is slow.
    trying: Option<Response>,
    /// The last response sent, re-sent on request retransmissions and Timer G.
    last: Option<Bytes>,
    out: Outputs<ServerEvent>,
}

impl ServerInvite {
    /// Starts the transaction for a received INVITE that arrived over `transport`.
    pub fn new(
        now: Instant,
        request: &Request,
        transport: &Transport,
        config: TimerConfig,
    ) -> Self {
        let mut trying = Response::to_request(request, StatusCode::TRYING);
        //= https://www.rfc-editor.org/rfc/rfc3261#section-8.2.6.1
        //# When a 100 (Trying) response is generated, any Timestamp header field present in
        //# the request MUST be copied into this 100 (Trying) response.
        if let Some(ts) = request.head.get(&HeaderName::Timestamp) {
            trying.head.headers.push(HeaderName::Timestamp, ts);
        }
        let mut tx = Self {
            state: State::Proceeding,
            reliable: transport.is_reliable(),
            config,
            timers: TimerTable::default(),
            interval_g: config.t1,
            trying: Some(trying),
            last: None,
            out: Outputs::default(),
        };
        //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
        //# The server transaction MUST generate a 100 (Trying) response unless it knows that
        //# the TU will generate a provisional or final response within 200 ms, in which case
        //# it MAY generate a 100 (Trying) response.
        tx.timers.start(Timer::Trying, now, config.trying);
        tx
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The deadline of `timer`, when armed.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// True once the transaction has terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// A request that matched this transaction (RFC 3261 section 17.2.3): a retransmission of
    /// the INVITE or an ACK.
    pub fn handle_request(&mut self, now: Instant, request: Request) {
        if request.method == Method::Ack {
            match self.state {
                State::Completed => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                    //# If an ACK is received while the server transaction is in the
                    //# "Completed" state, the server transaction MUST transition to the
                    //# "Confirmed" state.  As Timer G is ignored in this state, any
                    //# retransmissions of the response will cease.
                    self.timers.stop_all();
                    self.state = State::Confirmed;
                    self.out.events.push_back(ServerEvent::Confirmed);
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                    //# When this state is entered, timer I is set to fire in T4 seconds for
                    //# unreliable transports, and zero seconds for reliable transports.
                    if self.reliable {
                        self.terminate();
                    } else {
                        self.timers.start(Timer::I, now, self.config.t4);
                    }
                }
                // RFC 6026 (figure 7 as amended): in Accepted, an ACK goes to the TU.
                State::Accepted => self
                    .out
                    .events
                    .push_back(ServerEvent::Ack(Box::new(request))),
                // Confirmed absorbs retransmitted ACKs; one before any final is bogus.
                _ => {}
            }
            return;
        }
        match self.state {
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
            //# If a request retransmission is received while in the "Proceeding" state, the
            //# most recent provisional response that was received from the TU MUST be
            //# passed to the transport layer for retransmission.
            //
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
            //# Furthermore, while in the "Completed" state, if a request retransmission is
            //# received, the server SHOULD pass the response to the transport for
            //# retransmission.
            State::Proceeding | State::Completed => {
                if let Some(last) = &self.last {
                    self.out.transmits.push_back(last.clone());
                }
            }
            //= https://www.rfc-editor.org/rfc/rfc6026
            //# Any retransmissions of the INVITE received while in the "Accepted" state
            //# MUST be absorbed by the transaction without passing them up to the TU.
            _ => {}
        }
    }

    /// A response from the TU.
    pub fn respond(&mut self, now: Instant, response: Response) -> Result<(), TransactionError> {
        let status = response.status;
        match self.state {
            State::Proceeding if status.is_provisional() => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                //# The TU passes any number of provisional responses to the server
                //# transaction.  So long as the server transaction is in the "Proceeding"
                //# state, each of these MUST be passed to the transport layer for
                //# transmission.
                self.timers.stop(Timer::Trying);
                self.trying = None;
                self.send(response_bytes(&response));
            }
            State::Proceeding if status.is_success() => {
                //= https://www.rfc-editor.org/rfc/rfc6026
                //# If, while in the "Proceeding" state, the TU passes a 2xx response to the
                //# server transaction, the server transaction MUST pass this response to the
                //# transport layer for transmission.  It is not retransmitted by the server
                //# transaction; retransmissions of 2xx responses are handled by the TU.  The
                //# server transaction MUST then transition to the "Accepted" state.
                self.timers.stop_all();
                self.trying = None;
                self.send(response_bytes(&response));
                self.state = State::Accepted;
                self.timers.start(Timer::L, now, self.config.timeout());
            }
            State::Proceeding => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                //# While in the "Proceeding" state, if the TU passes a response with status
                //# code from 300 to 699 to the server transaction, the response MUST be
                //# passed to the transport layer for transmission, and the state machine
                //# MUST enter the "Completed" state.  For unreliable transports, timer G is
                //# set to fire in T1 seconds, and is not set to fire for reliable transports.
                self.timers.stop_all();
                self.trying = None;
                self.send(response_bytes(&response));
                self.state = State::Completed;
                if !self.reliable {
                    self.timers.start(Timer::G, now, self.interval_g);
                }
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                //# When the "Completed" state is entered, timer H MUST be set to fire in
                //# 64*T1 seconds for all transports.
                self.timers.start(Timer::H, now, self.config.timeout());
            }
            State::Accepted if status.is_success() => {
                //= https://www.rfc-editor.org/rfc/rfc6026
                //# While in the "Accepted" state, if the TU passes a 2xx response, the server
                //# transaction MUST pass the response to the transport layer for
                //# transmission.
                self.out.transmits.push_back(response_bytes(&response));
            }
            state => return Err(TransactionError::WrongState { status, state }),
        }
        Ok(())
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.next_expired(now) {
            self.timers.stop(timer);
            match (timer, self.state) {
                (Timer::Trying, State::Proceeding) => {
                    if let Some(trying) = self.trying.take() {
                        self.send(response_bytes(&trying));
                    }
                }
                (Timer::G, State::Completed) => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                    //# If timer G fires, the response is passed to the transport layer once
                    //# more for retransmission, and timer G is set to fire in MIN(2*T1, T2)
                    //# seconds.
                    if let Some(last) = &self.last {
                        self.out.transmits.push_back(last.clone());
                    }
                    self.interval_g = self.interval_g.saturating_mul(2).min(self.config.t2);
                    self.timers.start(Timer::G, now, self.interval_g);
                }
                (Timer::H, State::Completed) => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                    //# If timer H fires while in the "Completed" state, it implies that the
                    //# ACK was never received.  In this case, the server transaction MUST
                    //# transition to the "Terminated" state, and MUST indicate to the TU
                    //# that a transaction failure has occurred.
                    self.out.events.push_back(ServerEvent::Timeout);
                    self.terminate();
                }
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.1
                //# Once timer I fires, the server MUST transition to the "Terminated" state.
                (Timer::I, State::Confirmed) => self.terminate(),
                //= https://www.rfc-editor.org/rfc/rfc6026
                //# The server transaction remains in this state until Timer L fires, at
                //# which point it MUST transition to the "Terminated" state.
                (Timer::L, State::Accepted) => self.terminate(),
                _ => {}
            }
        }
    }

    /// The driver could not deliver a response: inform the TU and terminate.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if self.state != State::Terminated {
            self.out.events.push_back(ServerEvent::TransportError);
            self.terminate();
        }
    }

    /// The next response to send.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.out.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.out.events.pop_front()
    }

    fn send(&mut self, bytes: Bytes) {
        self.out.transmits.push_back(bytes.clone());
        self.last = Some(bytes);
    }

    fn terminate(&mut self) {
        self.timers.stop_all();
        self.state = State::Terminated;
        self.out.events.push_back(ServerEvent::Terminated);
    }
}
