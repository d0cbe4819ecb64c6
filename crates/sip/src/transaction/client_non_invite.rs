//! The client non-INVITE transaction (RFC 3261 section 17.1.2, figure 6).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timer::TimerTable;
use super::{ClientEvent, Outputs, State, Timer, TimerConfig};
use crate::addr::Transport;
use crate::message::{Request, Response};

/// Client non-INVITE transaction (RFC 3261 section 17.1.2).
///
/// Created with the request, which it queues for transmission at once. Feed it with
/// [`handle_response`](Self::handle_response), [`handle_timeout`](Self::handle_timeout) and
/// [`handle_transport_error`](Self::handle_transport_error); after each call drain, in order,
/// [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout) and
/// [`poll_event`](Self::poll_event). It never touches a socket or a clock.
///
/// It retransmits the request on Timer E (unreliable transports; the interval doubles up to
/// T2), gives up on Timer F, and lingers in Completed for Timer K to absorb retransmitted
/// responses.
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    state: State,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    /// The current Timer E interval.
    interval_e: Duration,
    request: Request,
    request_bytes: Bytes,
    out: Outputs<ClientEvent>,
}

impl ClientNonInvite {
    /// Starts the transaction for `request` (neither INVITE nor ACK) sent over `transport`,
    /// and queues the request for transmission.
    pub fn new(now: Instant, request: Request, transport: &Transport, config: TimerConfig) -> Self {
        let reliable = transport.is_reliable();
        let request_bytes = Bytes::from(request.to_bytes());
        let mut tx = Self {
            state: State::Trying,
            reliable,
            config,
            timers: TimerTable::default(),
            interval_e: config.t1,
            request,
            request_bytes: request_bytes.clone(),
            out: Outputs::default(),
        };
        tx.out.transmits.push_back(request_bytes);
        //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
        //# The "Trying" state is entered when the TU initiates a new client transaction with
        //# a request.  When entering this state, the client transaction SHOULD set timer F
        //# to fire in 64*T1 seconds.  The request MUST be passed to the transport layer for
        //# transmission.  If an unreliable transport is in use, the client transaction MUST
        //# set timer E to fire in T1 seconds.
        tx.timers.start(Timer::F, now, config.timeout());
        if !reliable {
            tx.timers.start(Timer::E, now, config.t1);
        }
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
        match self.state {
            State::Trying | State::Proceeding if response.status.is_provisional() => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
                //# If a provisional response is received while in the "Trying" state, the
                //# response MUST be passed to the TU, and then the client transaction
                //# SHOULD move to the "Proceeding" state.
                self.state = State::Proceeding;
                self.out
                    .events
                    .push_back(ClientEvent::Provisional(response));
            }
            State::Trying | State::Proceeding => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
                //# If a final response (status codes 200-699) is received while in the
                //# "Trying" state, the response MUST be passed to the TU, and the client
                //# transaction MUST transition to the "Completed" state.
                self.timers.stop_all();
                self.state = State::Completed;
                self.out.events.push_back(ClientEvent::Final(response));
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
                //# Once the client transaction enters the "Completed" state, it MUST set
                //# Timer K to fire in T4 seconds for unreliable transports, and zero seconds
                //# for reliable transports.
                if self.reliable {
                    self.terminate();
                } else {
                    self.timers.start(Timer::K, now, self.config.t4);
                }
            }
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
            //# The "Completed" state exists to buffer any additional response
            //# retransmissions that may be received (which is why the client transaction
            //# remains there only for unreliable transports).
            _ => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.next_expired(now) {
            self.timers.stop(timer);
            match (timer, self.state) {
                (Timer::E, State::Trying) => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
                    //# If timer E fires while still in this state, the timer is reset, but
                    //# this time with a value of MIN(2*T1, T2).
                    self.out.transmits.push_back(self.request_bytes.clone());
                    self.interval_e = self.interval_e.saturating_mul(2).min(self.config.t2);
                    self.timers.start(Timer::E, now, self.interval_e);
                }
                (Timer::E, State::Proceeding) => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
                    //# If Timer E fires while in the "Proceeding" state, the request MUST be
                    //# passed to the transport layer for retransmission, and Timer E MUST be
                    //# reset with a value of T2 seconds.
                    self.out.transmits.push_back(self.request_bytes.clone());
                    self.interval_e = self.config.t2;
                    self.timers.start(Timer::E, now, self.interval_e);
                }
                (Timer::F, State::Trying | State::Proceeding) => {
                    //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
                    //# If Timer F fires while the client transaction is still in the "Trying"
                    //# state, the client transaction SHOULD inform the TU about the timeout,
                    //# and then it SHOULD enter the "Terminated" state.
                    self.out.events.push_back(ClientEvent::Timeout);
                    self.terminate();
                }
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.1.2.2
                //# If Timer K fires while in this state, the client transaction MUST
                //# transition to the "Terminated" state.
                (Timer::K, State::Completed) => self.terminate(),
                _ => {}
            }
        }
    }

    /// The driver could not deliver the request: inform the TU and terminate.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if self.state != State::Terminated {
            self.out.events.push_back(ClientEvent::TransportError);
            self.terminate();
        }
    }

    /// The next message to send: the request or a retransmission of it.
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
}
