//! The media core: RTP/RTCP, relay sessions, port allocation. No I/O.

#![warn(missing_docs)]
