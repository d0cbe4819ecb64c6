//! Sans-IO SDP (RFC 8866) and offer/answer (RFC 3264).

#![warn(missing_docs)]
