//! The invariants every input must keep, shared by the fuzz target `fuzz/fuzz_targets/sdp_parse.rs`
//! and `malformed_regressions.rs`, which replays `testdata/sdp-malformed/` under stable `cargo test`.
//!
//! For any bytes: `parse` never panics, and a refusal maps to 400, 413 or 488. For what parses:
//! the serialization has only CRLF line ends and starts with `v=0`; it parses back to an equal
//! description and serializes to the same bytes; every accessor runs; `rewrite` leaves no ICE,
//! names only the PBX address and the leg's ports, and round-trips too; `negotiate` of the
//! description against itself and against its rewrite, and `retain_codecs`, never panic and
//! produce descriptions that round-trip, with maps that agree with the codec lists.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use sdp::{
    Attribute, LegMedia, Limits, Line, NegotiationError, SessionDescription, negotiate,
    retain_codecs, rewrite,
};

const PBX: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// Runs every check on one input.
pub fn parse_invariants(data: &[u8]) -> Result<(), String> {
    let sdp = match SessionDescription::parse(data) {
        Ok(sdp) => sdp,
        Err(e) => {
            let status = e.status();
            if ![400, 413, 488].contains(&status) {
                return Err(format!("refusal {e:?} maps to {status}"));
            }
            if e.to_string().is_empty() {
                return Err(format!("refusal {e:?} has no text"));
            }
            return Ok(());
        }
    };
    let text = round_trip(&sdp, "parsed input")?;
    if !text.starts_with("v=0\r\n") {
        return Err("serialization does not start with v=0".into());
    }
    accessors(&sdp);

    let ports: Vec<u16> = (0..sdp.media.len())
        .map(|i| 20000u16.saturating_add(u16::try_from(i * 2).unwrap_or(0)))
        .collect();
    let mut leg = LegMedia::new(PBX, ports.clone(), 77);
    let out = rewrite(&sdp, &mut leg);
    round_trip(&out, "rewrite")?;
    rewritten_for_pbx(&sdp, &out, &ports)?;
    let again = rewrite(&sdp, &mut leg);
    if again != out {
        return Err("rewriting the same description twice changed it (o= version?)".into());
    }

    for answer in [&sdp, &out] {
        let mut offerer = LegMedia::new(PBX, ports.clone(), 78);
        match negotiate(&sdp, answer, &mut offerer) {
            Ok(n) => {
                round_trip(&n.answer, "negotiated answer")?;
                for s in &n.streams {
                    for c in &s.codecs {
                        if s.offerer_to_answerer.get(c.offerer_pt) != Some(c.answerer_pt) {
                            return Err(format!("map misses {c:?}"));
                        }
                        if s.answerer_to_offerer.get(c.offerer_pt) != Some(c.offerer_pt) {
                            return Err(format!("reverse map misses {c:?}"));
                        }
                    }
                    if s.is_accepted() && s.primary().is_none() && !s.codecs.is_empty() {
                        return Err("accepted RTP stream without a media codec".into());
                    }
                }
                let _ = n.codecs_in_use();
            }
            Err(NegotiationError::StreamCount { .. }) => {
                return Err("same number of m= lines refused as a mismatch".into());
            }
            Err(_) => {}
        }
    }
    if let Ok(filtered) = retain_codecs(&sdp, &["PCMU", "opus/48000/2", "telephone-event"]) {
        round_trip(&filtered, "retain_codecs")?;
    }
    Ok(())
}

/// Serializes, checks line ends, re-parses without limits (serializing can grow the input:
/// LF becomes CRLF) and serializes again.
fn round_trip(sdp: &SessionDescription, what: &str) -> Result<String, String> {
    let text = sdp.to_string();
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        let ok = match b {
            b'\n' => i > 0 && bytes.get(i - 1) == Some(&b'\r'),
            b'\r' => bytes.get(i + 1) == Some(&b'\n'),
            0 => false,
            _ => true,
        };
        if !ok {
            return Err(format!("{what}: stray CR, LF or NUL at byte {i}"));
        }
    }
    if !text.ends_with("\r\n") {
        return Err(format!("{what}: last line without CRLF"));
    }
    let back = SessionDescription::parse_with(bytes, &Limits::unlimited())
        .map_err(|e| format!("{what}: own output refused: {e}\n{text}"))?;
    if &back != sdp {
        return Err(format!("{what}: parse(serialize(x)) != x\n{text}"));
    }
    if back.to_string() != text {
        return Err(format!("{what}: serializing twice differs"));
    }
    Ok(text)
}

/// Calls every read accessor (their results are checked by the unit tests; here only that
/// they do not panic on anything).
fn accessors(sdp: &SessionDescription) {
    let _ = (
        sdp.connection(),
        sdp.direction(),
        sdp.bandwidth("AS"),
        sdp.origin.version(),
    );
    for m in &sdp.media {
        let _ = (
            sdp.connection_for(m),
            sdp.direction_for(m),
            sdp.is_legacy_hold(m),
        );
        let _ = (
            sdp.rtp_addr(m),
            sdp.rtcp_addr(m),
            sdp.ice_for(m).is_present(),
        );
        let _ = (
            m.is_rtp(),
            m.telephone_event(),
            m.ptime(),
            m.maxptime(),
            m.rtcp(),
        );
        let _ = (m.bandwidth("TIAS"), m.connection().map(|c| c.ip()));
        for (pt, codec) in m.codecs() {
            let _ = (m.fmtp(pt), codec.map(|c| c.to_string()));
        }
    }
}

/// What `rewrite` promises about its output.
fn rewritten_for_pbx(
    input: &SessionDescription,
    out: &SessionDescription,
    ports: &[u16],
) -> Result<(), String> {
    let ice = out
        .attributes()
        .chain(out.media.iter().flat_map(|m| m.attributes()))
        .any(Attribute::is_ice);
    if ice {
        return Err("ICE attribute left after rewrite".into());
    }
    let connections = out
        .lines
        .iter()
        .chain(out.media.iter().flat_map(|m| m.lines.iter()))
        .filter_map(|l| match l {
            Line::Connection(c) => Some(c),
            _ => None,
        });
    for c in connections {
        if c.ip() != Some(PBX) {
            return Err(format!("c= left pointing elsewhere: {c:?}"));
        }
    }
    if out.origin.address != PBX.to_string() || out.origin.username != "switchboard" {
        return Err(format!("o= is not the leg's: {:?}", out.origin));
    }
    for ((m, before), port) in out.media.iter().zip(&input.media).zip(ports) {
        let want = if before.port == 0 { 0 } else { *port };
        if m.port != want || m.port_count.is_some() {
            return Err(format!(
                "m= port {}/{:?} instead of {want}",
                m.port, m.port_count
            ));
        }
        if m.port != 0 && out.rtp_addr(m).map(|a| a.ip()) != Some(PBX) {
            return Err("an active stream does not point at the PBX".into());
        }
        if let Some(rtcp) = m.rtcp()
            && (rtcp.port != port.saturating_add(1) || rtcp.address != Some(PBX))
        {
            return Err(format!("a=rtcp not rewritten: {rtcp:?}"));
        }
    }
    Ok(())
}
