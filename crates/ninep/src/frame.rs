//! Cutting a byte stream into 9P messages.
//!
//! Every message starts with its own `size[4]`, which counts itself. A partial message is not
//! an error: [`check`] says [`Frame::Incomplete`] and the driver reads more. A size over the
//! negotiated msize, or under the seven bytes of a header, cannot be resynchronised: the driver
//! closes the connection.

use crate::msg::Header;

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet: read more.
    Incomplete,
    /// One whole message of this many bytes at the front.
    Message(usize),
    /// The size field says more than msize: the peer broke the negotiated limit.
    TooBig(u32),
    /// The size field says less than a header (7 bytes).
    TooSmall(u32),
}

/// Examines the front of `buf` given the negotiated `msize`.
pub fn check(buf: &[u8], msize: u32) -> Frame {
    let Some(size) = buf.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return Frame::Incomplete;
    };
    let size = u32::from_le_bytes(size);
    if size > msize {
        return Frame::TooBig(size);
    }
    if (size as usize) < Header::LEN {
        return Frame::TooSmall(size);
    }
    match usize::try_from(size) {
        Ok(n) if n <= buf.len() => Frame::Message(n),
        _ => Frame::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_than_four_bytes_is_incomplete() {
        assert_eq!(check(&[], 8192), Frame::Incomplete);
        assert_eq!(check(&[19, 0, 0], 8192), Frame::Incomplete);
    }

    #[test]
    fn a_partial_message_is_incomplete() {
        assert_eq!(check(&[19, 0, 0, 0, 100, 0xff], 8192), Frame::Incomplete);
    }

    #[test]
    fn a_whole_message_is_cut_at_its_size() {
        let mut buf = vec![7, 0, 0, 0, 109, 1, 0];
        buf.extend_from_slice(&[9, 9, 9]);
        assert_eq!(check(&buf, 8192), Frame::Message(7));
    }

    #[test]
    fn size_over_msize_is_too_big_before_the_bytes_arrive() {
        assert_eq!(check(&[0x01, 0x20, 0, 0], 8192), Frame::TooBig(8193));
        assert_eq!(
            check(&[0xff, 0xff, 0xff, 0xff], 8192),
            Frame::TooBig(u32::MAX)
        );
        assert_eq!(check(&[0x00, 0x20, 0, 0], 8192), Frame::Incomplete);
    }

    #[test]
    fn size_under_a_header_is_too_small() {
        assert_eq!(check(&[6, 0, 0, 0], 8192), Frame::TooSmall(6));
        assert_eq!(check(&[0, 0, 0, 0], 8192), Frame::TooSmall(0));
    }
}
