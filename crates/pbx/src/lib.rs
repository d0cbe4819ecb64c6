//! The switchboard application layer.
//!
//! It decides what the PBX answers; it never touches a socket. The network driver (`net`)
//! hands it each request that a new server transaction carries, after the interception
//! [`Pipeline`] has seen it, and sends back whatever it returns.

#![warn(missing_docs)]

mod answer;
mod call_event;
pub mod calls;
pub mod capture;
pub mod cdr;
pub mod directory;
mod guard;
mod intercept;
pub mod location;
mod metrics;
mod nonce;
pub mod registrar;
mod store;
mod time;
pub mod tree;

pub use answer::{Answers, Identity};
pub use call_event::{CallEvent, CallNote};
pub use capture::{Capture, CaptureHub, Subscription};
pub use cdr::{BadCursor, Cause, Cdr, CdrCursor, CdrPage, CdrQuery, HangupBy, tree_escape};
pub use directory::{DigestAlgorithm, Directory, Domain, Latching, Secret, User};
pub use guard::{Guard, GuardConfig, GuardInterceptor};
pub use intercept::{Direction, Interceptor, Observed, Pipeline, SipLog, Verdict};
pub use location::{Binding, Flow, Location, UserBindings};
pub use metrics::Metrics;
pub use registrar::{
    AuthResult, Caller, Outcome, Ping, RegEvent, Registrar, RegistrarConfig, State,
};
pub use store::{Snapshot, Store, StoreError};
