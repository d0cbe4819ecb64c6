//! The tokio drivers around switchboard's sans-IO cores.
//!
//! [`SipServer`] owns the SIP sockets (UDP and TCP on one port) and one endpoint task that
//! feeds the transaction layer, the interception pipeline and the applications, and sends
//! what they produce. Time enters here (`tokio::time`), and so do sockets; nothing below it
//! reads either. [`SipLinks`] lets the 9P tree's `sip.sock` files be connections of that
//! endpoint too.

#![warn(missing_docs)]

mod endpoint;
pub mod hep;
pub mod media;
pub mod mux;
pub mod ninep;
mod sip_server;
mod sip_sock;
mod tcp;

pub use endpoint::{Apps, CALL_BACKLOG};
pub use sip_server::{BindError, SipConfig, SipServer};
pub use sip_sock::SipLinks;
