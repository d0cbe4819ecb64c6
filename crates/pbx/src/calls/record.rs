//! Call events and CDRs as the call manager produces them.

/// A call event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// An authenticated INVITE.
    New(CallNote),
    /// The callee's phones ring.
    Ringing(CallNote),
    /// The callee answered.
    Answered(CallNote),
    /// The call ended; its CDR.
    HungUp(Cdr),
}

/// The fields every call event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallNote {
    /// The PBX's call id.
    pub id: String,
    /// The domain.
    pub domain: String,
    /// The caller.
    pub from: String,
    /// The dialled user.
    pub to: String,
    /// The caller's SIP Call-ID.
    pub call_id: String,
    /// Unix seconds.
    pub time: u64,
}

/// A call detail record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdr {
    /// The PBX's call id.
    pub id: String,
    /// The domain.
    pub domain: String,
    /// The caller's SIP Call-ID.
    pub call_id: String,
    /// The caller.
    pub from: String,
    /// The dialled user.
    pub to: String,
    /// Unix seconds.
    pub start: u64,
    /// Unix seconds.
    pub answer: Option<u64>,
    /// Unix seconds.
    pub end: Option<u64>,
    /// Seconds from start to end.
    pub duration: u64,
    /// Seconds from answer to end.
    pub billsec: u64,
    /// SIP code.
    pub code: u16,
    /// Reason.
    pub reason: String,
    /// caller, callee or system.
    pub hangup_by: String,
    /// Codecs.
    pub codecs: Vec<String>,
}
