//! The server non-INVITE transaction (RFC 3261 section 17.2.2, figure 8).

use std::time::Instant;

use bytes::Bytes;

use super::timer::TimerTable;
use super::{Outputs, ServerEvent, State, Timer, TimerConfig, TransactionError, response_bytes};
use crate::addr::Transport;
use crate::message::{Request, Response};

/// Server non-INVITE transaction (RFC 3261 section 17.2.2).
///
/// Created with the request, which the caller hands to the TU. Feed it with
/// [`handle_request`](Self::handle_request) (retransmissions), [`respond`](Self::respond)
/// (the TU's responses), [`handle_timeout`](Self::handle_timeout) and
/// [`handle_transport_error`](Self::handle_transport_error); after each call drain, in
/// order, [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout) and
/// [`poll_event`](Self::poll_event). It never touches a socket or a clock.
///
/// It re-sends the last response on each retransmitted request and lingers in Completed for
/// Timer J (64*T1 on unreliable transports, zero on reliable ones).
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    state: State,
    reliable: bool,
    config: TimerConfig,
    timers: TimerTable,
    last: Option<Bytes>,
    out: Outputs<ServerEvent>,
}

impl ServerNonInvite {
    /// Starts the transaction for a received request (neither INVITE nor ACK) that arrived
    /// over `transport`.
    pub fn new(
        _now: Instant,
        _request: &Request,
        transport: &Transport,
        config: TimerConfig,
    ) -> Self {
        Self {
            state: State::Trying,
            reliable: transport.is_reliable(),
            config,
            timers: TimerTable::default(),
            last: None,
            out: Outputs::default(),
        }
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

    /// A retransmission of the request (RFC 3261 section 17.2.3 matched it).
    pub fn handle_request(&mut self, _now: Instant, _request: Request) {
        match self.state {
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.2
            //# If a retransmission of the request is received while in the "Proceeding"
            //# state, the most recent provisional response that was received from the TU
            //# MUST be passed to the transport layer for retransmission.
            //
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.2
            //# While in the "Completed" state, the server transaction MUST pass the final
            //# response to the transport layer for retransmission whenever a retransmission
            //# of the request is received.
            State::Proceeding | State::Completed => {
                if let Some(last) = &self.last {
                    self.out.transmits.push_back(last.clone());
                }
            }
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.2
            //# Once in the "Trying" state, any further request retransmissions are
            //# discarded.
            _ => {}
        }
    }

    /// A response from the TU.
    pub fn respond(&mut self, now: Instant, response: Response) -> Result<(), TransactionError> {
        let status = response.status;
        match self.state {
            State::Trying | State::Proceeding if status.is_provisional() => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.2
                //# While in the "Trying" state, if the TU passes a provisional response to
                //# the server transaction, the server transaction MUST enter the
                //# "Proceeding" state.  The response MUST be passed to the transport layer
                //# for transmission.
                self.send(response_bytes(&response));
                self.state = State::Proceeding;
            }
            State::Trying | State::Proceeding => {
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.2
                //# If the TU passes a final response (status codes 200-699) to the server
                //# while in the "Proceeding" state, the transaction MUST enter the
                //# "Completed" state, and the response MUST be passed to the transport layer
                //# for transmission.
                self.send(response_bytes(&response));
                self.state = State::Completed;
                //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.2
                //# When the server transaction enters the "Completed" state, it MUST set
                //# Timer J to fire in 64*T1 seconds for unreliable transports, and zero
                //# seconds for reliable transports.
                if self.reliable {
                    self.terminate();
                } else {
                    self.timers.start(Timer::J, now, self.config.timeout());
                }
            }
            state => return Err(TransactionError::WrongState { status, state }),
        }
        Ok(())
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.next_expired(now) {
            self.timers.stop(timer);
            //= https://www.rfc-editor.org/rfc/rfc3261#section-17.2.2
            //# The server transaction remains in this state until Timer J fires, at which
            //# point it MUST transition to the "Terminated" state.
            if (timer, self.state) == (Timer::J, State::Completed) {
                self.terminate();
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
