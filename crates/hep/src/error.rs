//! The hep crate's errors: what a datagram was refused for, and why a frame could not be
//! written.

/// Why bytes are not a HEP3 frame. Every case is the sender's fault (or not HEP at all);
/// a collector drops the datagram and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than the 6 bytes of the header.
    #[error("hep: {len} bytes, shorter than the 6-byte header")]
    TooShort {
        /// Bytes given.
        len: usize,
    },
    /// The first four bytes are not `HEP3` (HEP v1 and v2 start with a version byte).
    #[error("hep: not a HEP3 frame")]
    BadMagic,
    /// The header's total length is not the datagram's length.
    #[error("hep: total length {declared}, datagram {actual} bytes")]
    LengthMismatch {
        /// What the header says.
        declared: usize,
        /// What arrived.
        actual: usize,
    },
    /// A chunk whose length is below its own 6-byte header, or fewer than 6 bytes left for a
    /// chunk header.
    #[error("hep: chunk at offset {offset} has length {len}, below 6")]
    ChunkTooShort {
        /// Offset of the chunk in the frame.
        offset: usize,
        /// Its length field (or the bytes left when a header does not fit).
        len: usize,
    },
    /// A chunk that runs past the end of the frame.
    #[error("hep: chunk at offset {offset} of length {len} runs past the frame's end")]
    ChunkOverrun {
        /// Offset of the chunk in the frame.
        offset: usize,
        /// Its length field.
        len: usize,
    },
    /// A fixed-size standard chunk of another size (an IPv4 address of 3 bytes).
    #[error("hep: chunk type {kind:#06x} has {len} value bytes, expected {expected}")]
    BadChunkSize {
        /// The chunk type.
        kind: u16,
        /// Value bytes it has.
        len: usize,
        /// Value bytes that type has.
        expected: usize,
    },
    /// An IP family other than 2 (IPv4) or 10 (IPv6).
    #[error("hep: unknown IP family {0}")]
    UnknownFamily(u8),
    /// A chunk the frame cannot do without is absent (named by its type).
    #[error("hep: frame has no chunk of type {0:#06x}")]
    Missing(u16),
}

/// Why a frame could not be encoded. These are the caller's mistakes or limits, never a
/// peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The frame would exceed the 65,535 bytes its 16-bit total length can say.
    #[error("hep: frame of {len} bytes exceeds 65535")]
    TooLarge {
        /// Bytes the frame would take.
        len: usize,
    },
    /// The output slice is too small.
    #[error("hep: frame needs {needed} bytes, buffer has {have}")]
    BufferTooSmall {
        /// Bytes the frame takes.
        needed: usize,
        /// Bytes the buffer has.
        have: usize,
    },
}
