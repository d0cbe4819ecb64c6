//! The tokio drivers around switchboard's sans-IO cores.
//!
//! [`SipServer`] owns the SIP sockets (UDP and TCP on one port) and one endpoint task that
//! feeds the transaction layer, the interception pipeline and the applications, and sends
//! what they produce. Time enters here (`tokio::time`), and so do sockets; nothing below it
//! reads either.

#![warn(missing_docs)]

mod endpoint;
pub mod hep;
pub mod media;
pub mod ninep;
mod sip_server;
mod tcp;

pub use endpoint::{Apps, CALL_BACKLOG};
pub use sip_server::{BindError, SipConfig, SipServer};
