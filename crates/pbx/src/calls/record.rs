//! Call events and CDRs as the call manager produces them: the types of [`crate::cdr`] and
//! [`crate::CallEvent`], which the CDR writer stores and the webhooks deliver.

pub use crate::call_event::{CallEvent, CallNote};
pub use crate::cdr::Cdr;
