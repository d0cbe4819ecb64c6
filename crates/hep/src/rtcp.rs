//! RTCP as the JSON Homer expects in a type 5 frame ([`crate::ProtoType::RTCP`]).
//!
//! Homer stores and graphs RTCP reports it receives as JSON, tied to their call by the
//! frame's correlation id (the SIP Call-ID); raw RTCP in a type 5 frame would be stored and
//! never read. The object has the field names heplify and rtpengine send:
//!
//! ```text
//! {"type":200,"ssrc":N,"report_count":N,
//!  "sender_information":{"ntp_timestamp_sec":N,"ntp_timestamp_usec":N,"rtp_timestamp":N,
//!                        "packets":N,"octets":N},
//!  "report_blocks":[{"source_ssrc":N,"fraction_lost":N,"packets_lost":N,
//!                    "highest_seq_no":N,"ia_jitter":N,"lsr":N,"dlsr":N}],
//!  "sdes_ssrc":N}
//! ```
//!
//! From a compound packet (RFC 3550 section 6.1) the first sender or receiver report gives
//! the report fields (a receiver report has zero sender information), the first SDES gives
//! `sdes_ssrc`; BYE, APP and others are skipped. `ntp_timestamp_usec` is the NTP fraction
//! in microseconds, and `packets_lost` the signed 24-bit cumulative loss.

use std::io::Write;

/// Why an RTCP packet could not be turned into a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// The first packet is not RTCP version 2 with a type in 200..=207, or its length runs
    /// past the datagram.
    #[error("not an RTCP packet")]
    NotRtcp,
    /// No sender report, receiver report or SDES in the compound packet.
    #[error("RTCP packet has no report")]
    NoReport,
}

//= https://www.rfc-editor.org/rfc/rfc3550#section-12.1
//# SR 200, RR 201, SDES 202, BYE 203, APP 204
const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;

/// Bytes of a report block.
const BLOCK: usize = 24;

/// The first sender or receiver report of a compound packet.
struct Report<'a> {
    /// SR or RR.
    kind: u8,
    /// The report count of its header.
    count: u8,
    /// What follows its 4-byte header.
    body: &'a [u8],
}

/// Appends the JSON report of the RTCP compound packet `packet` to `out`. Nothing is
/// appended on error. Reusing `out` (cleared) allocates nothing once it is large enough.
pub fn to_json(packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtcpError> {
    let mut report = None;
    let mut sdes_ssrc = None;
    let mut rest = packet;
    let mut first = true;
    while let [b0, pt, l0, l1, ..] = *rest {
        //= https://www.rfc-editor.org/rfc/rfc3550#section-6.4.1
        //# length: 16 bits  The length of this RTCP packet in 32-bit words minus one,
        //# including the header and any padding.
        let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
        if b0 >> 6 != 2 || !(200..=207).contains(&pt) || len > rest.len() {
            if first {
                return Err(RtcpError::NotRtcp);
            }
            // A damaged tail: report what came before it.
            break;
        }
        first = false;
        let body = rest.get(4..len).unwrap_or_default();
        match pt {
            SR | RR if report.is_none() => {
                report = Some(Report {
                    kind: pt,
                    count: b0 & 0x1f,
                    body,
                })
            }
            SDES if sdes_ssrc.is_none() => sdes_ssrc = be32(body, 0),
            _ => {}
        }
        rest = rest.get(len..).unwrap_or_default();
    }
    if first {
        return Err(RtcpError::NotRtcp);
    }
    if report.is_none() && sdes_ssrc.is_none() {
        return Err(RtcpError::NoReport);
    }
    // Writing to a Vec cannot fail.
    let _ = write_json(report.as_ref(), sdes_ssrc, out);
    Ok(())
}

fn write_json(
    report: Option<&Report<'_>>,
    sdes: Option<u32>,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let (kind, count, body) = match report {
        Some(r) => (r.kind, r.count, r.body),
        None => (SDES, 0, &[][..]),
    };
    let ssrc = be32(body, 0).or(sdes).unwrap_or(0);
    let (info, blocks) = if kind == SR {
        (body.get(4..24), body.get(24..).unwrap_or_default())
    } else {
        (None, body.get(4..).unwrap_or_default())
    };
    let blocks = blocks.chunks_exact(BLOCK).take(usize::from(count));
    write!(
        out,
        "{{\"type\":{kind},\"ssrc\":{ssrc},\"report_count\":{},",
        blocks.len()
    )?;
    let field = |i: usize| info.and_then(|info| be32(info, i)).unwrap_or(0);
    // The NTP fraction of a second, in microseconds.
    let micros = (u64::from(field(4)) * 1_000_000) >> 32;
    write!(
        out,
        "\"sender_information\":{{\"ntp_timestamp_sec\":{},\"ntp_timestamp_usec\":{micros},\
         \"rtp_timestamp\":{},\"packets\":{},\"octets\":{}}},",
        field(0),
        field(8),
        field(12),
        field(16),
    )?;
    out.extend_from_slice(b"\"report_blocks\":[");
    for (i, b) in blocks.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let at = |o| be32(b, o).unwrap_or(0);
        //= https://www.rfc-editor.org/rfc/rfc3550#section-6.4.1
        //# cumulative number of packets lost: 24 bits ... a signed number
        let lost = ((at(4) << 8) as i32) >> 8;
        write!(
            out,
            "{{\"source_ssrc\":{},\"fraction_lost\":{},\"packets_lost\":{lost},\
             \"highest_seq_no\":{},\"ia_jitter\":{},\"lsr\":{},\"dlsr\":{}}}",
            at(0),
            at(4) >> 24,
            at(8),
            at(12),
            at(16),
            at(20),
        )?;
    }
    out.push(b']');
    if let Some(sdes) = sdes {
        write!(out, ",\"sdes_ssrc\":{sdes}")?;
    }
    out.push(b'}');
    Ok(())
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(<[u8; 4]>::try_from(bytes).ok()?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// SR from SSRC 0x11223344 with one report block about 0xaabbccdd, then an SDES.
    fn sr_sdes() -> Vec<u8> {
        let mut p = vec![0x81, 200, 0, 12];
        p.extend_from_slice(&0x1122_3344u32.to_be_bytes());
        p.extend_from_slice(&3_900_000_000u32.to_be_bytes()); // NTP seconds
        p.extend_from_slice(&0x8000_0000u32.to_be_bytes()); // half a second
        p.extend_from_slice(&160u32.to_be_bytes());
        p.extend_from_slice(&50u32.to_be_bytes());
        p.extend_from_slice(&8000u32.to_be_bytes());
        p.extend_from_slice(&0xaabb_ccddu32.to_be_bytes());
        p.extend_from_slice(&[0x40, 0xff, 0xff, 0xfe]); // 25 % lost, cumulative -2
        p.extend_from_slice(&70_000u32.to_be_bytes());
        p.extend_from_slice(&12u32.to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(&65_536u32.to_be_bytes());
        // SDES: one chunk, CNAME "ab", end.
        p.extend_from_slice(&[0x81, 202, 0, 2]);
        p.extend_from_slice(&0x1122_3344u32.to_be_bytes());
        p.extend_from_slice(&[1, 2, b'a', b'b']);
        p
    }

    #[test]
    fn sender_report_with_sdes() {
        let mut out = Vec::new();
        to_json(&sr_sdes(), &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"type\":200,\"ssrc\":287454020,\"report_count\":1,\"sender_information\":\
             {\"ntp_timestamp_sec\":3900000000,\"ntp_timestamp_usec\":500000,\
             \"rtp_timestamp\":160,\"packets\":50,\"octets\":8000},\"report_blocks\":\
             [{\"source_ssrc\":2864434397,\"fraction_lost\":64,\"packets_lost\":-2,\
             \"highest_seq_no\":70000,\"ia_jitter\":12,\"lsr\":305419896,\"dlsr\":65536}],\
             \"sdes_ssrc\":287454020}"
        );
    }

    #[test]
    fn receiver_report_without_blocks() {
        let mut out = b"keep".to_vec();
        to_json(&[0x80, 201, 0, 1, 0, 0, 0, 7], &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "keep{\"type\":201,\"ssrc\":7,\"report_count\":0,\"sender_information\":\
             {\"ntp_timestamp_sec\":0,\"ntp_timestamp_usec\":0,\"rtp_timestamp\":0,\
             \"packets\":0,\"octets\":0},\"report_blocks\":[]}"
        );
    }

    #[test]
    fn refusals_append_nothing() {
        let mut out = Vec::new();
        assert_eq!(to_json(&[], &mut out), Err(RtcpError::NotRtcp));
        assert_eq!(to_json(&[0x80, 0, 0, 0], &mut out), Err(RtcpError::NotRtcp));
        // Length says 8 words; 4 bytes present.
        assert_eq!(
            to_json(&[0x80, 201, 0, 8], &mut out),
            Err(RtcpError::NotRtcp)
        );
        // A BYE alone.
        assert_eq!(
            to_json(&[0x81, 203, 0, 1, 0, 0, 0, 1], &mut out),
            Err(RtcpError::NoReport)
        );
        assert!(out.is_empty());
        // A report count larger than the blocks present: only the blocks present.
        to_json(&[0x9f, 201, 0, 1, 0, 0, 0, 7], &mut out).unwrap();
        assert!(out.starts_with(b"{\"type\":201,\"ssrc\":7,\"report_count\":0,"));
    }
}
