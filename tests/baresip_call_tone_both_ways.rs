//! Two baresip softphones (Debian's) call each other through `switchboard serve`, alice to bob
//! and then bob to alice: alice plays a 1000 Hz tone, bob 440 Hz, the callee auto-answers, and
//! each phone's recording of what it received holds the other's tone. The media must cross the
//! PBX: each phone's SDP (from its SIP trace) names a relay port from the PBX's range, and the
//! relay's packet counter rises, so a call whose media bypassed the PBX cannot pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RTP_LO: u16 = 41_000;
const RTP_HI: u16 = 41_199;

/// An 8 kHz mono 16-bit WAV of a sine at `freq` Hz lasting `secs`.
fn tone_wav(path: &Path, freq: f64, secs: u32) {
    let rate = 8000u32;
    let samples: Vec<i16> = (0..rate * secs)
        .map(|n| {
            let t = f64::from(n) / f64::from(rate);
            (f64::from(i16::MAX) * 0.5 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).expect("write tone");
}

/// The samples and rate of a 16-bit PCM WAV.
fn read_wav(path: &Path) -> (Vec<f64>, u32) {
    let bytes = std::fs::read(path).expect("read wav");
    let rate = u32::from_le_bytes(bytes[24..28].try_into().expect("rate"));
    let channels = u16::from_le_bytes(bytes[22..24].try_into().expect("channels")) as usize;
    let mut i = 12;
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let len = u32::from_le_bytes(bytes[i + 4..i + 8].try_into().expect("len")) as usize;
        if id == b"data" {
            let end = (i + 8 + len).min(bytes.len());
            let samples = bytes[i + 8..end]
                .chunks_exact(2 * channels)
                .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
                .collect();
            return (samples, rate);
        }
        i += 8 + len + (len & 1);
    }
    panic!("no data chunk in {}", path.display());
}

/// Goertzel power of `freq` in `x`.
fn power(x: &[f64], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// True when the recording's dominant tone is `want` Hz (and not `other`), over its loud part.
fn hears(path: &Path, want: f64, other: f64) -> Result<(), String> {
    let (x, rate) = read_wav(path);
    let loud: Vec<f64> = x
        .chunks(160)
        .filter(|c| c.iter().map(|v| v * v).sum::<f64>() / c.len() as f64 > 1e5)
        .flatten()
        .copied()
        .collect();
    if loud.len() < rate as usize {
        return Err(format!(
            "{}: only {} loud samples of {}",
            path.display(),
            loud.len(),
            x.len()
        ));
    }
    let p_want = power(&loud, rate, want);
    let p_other = power(&loud, rate, other);
    let p_off = power(&loud, rate, (want + other) / 2.0);
    if p_want > 100.0 * p_other && p_want > 100.0 * p_off {
        Ok(())
    } else {
        Err(format!(
            "{}: {want} Hz {p_want:.3e}, {other} Hz {p_other:.3e}, between {p_off:.3e}",
            path.display()
        ))
    }
}

struct Phone {
    child: Child,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Phone {
    fn start(
        baresip: &Path,
        user: &str,
        tone: f64,
        server: std::net::SocketAddr,
        dial: Option<&str>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = common::free_udp_port();
        let rtp = common::free_udp_port();
        let rec = dir.path().join("rec");
        std::fs::create_dir(&rec).expect("rec dir");
        let wav = dir.path().join("tone.wav");
        tone_wav(&wav, tone, 30);
        std::fs::write(
            dir.path().join("config"),
            format!(
                "poll_method epoll\nsip_listen 127.0.0.1:{port}\nsip_trans_def udp\n\
                 net_interface 127.0.0.1\ncall_local_timeout 120\n\
                 audio_player alsa,null\naudio_alert alsa,null\n\
                 audio_source aufile,{wav}\nausrc_srate 8000\nauplay_srate 8000\n\
                 ausrc_channels 1\nauplay_channels 1\nrtp_ports {rtp}-{rtp_hi}\nrtcp_mux no\n\
                 jitter_buffer_delay 5-10\nmodule_path /usr/lib/baresip/modules\n\
                 module g711.so\nmodule aufile.so\nmodule alsa.so\nmodule sndfile.so\n\
                 snd_path {rec}\nmodule_app account.so\nmodule_app menu.so\n",
                wav = wav.display(),
                rec = rec.display(),
                rtp_hi = rtp.saturating_add(9),
            ),
        )
        .expect("config");
        std::fs::write(
            dir.path().join("accounts"),
            format!(
                "<sip:{user}@{server};transport=udp>;auth_pass={user}pw;regint=300;answermode=auto\n"
            ),
        )
        .expect("accounts");
        std::fs::write(dir.path().join("contacts"), "").expect("contacts");
        let log = dir.path().join("log");
        // `--foreground`: otherwise timeout passes our SIGINT on twice (to the child and to its
        // group), and baresip's second SIGINT exits at once, before it has unregistered.
        let mut cmd = Command::new("timeout");
        cmd.args(["--foreground", "40", baresip.to_str().expect("path"), "-f"])
            .arg(dir.path())
            .args(["-s", "-t", "25"]);
        if let Some(target) = dial {
            cmd.args(["-e", &format!("/dial {target}")]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start baresip");
        Self { child, dir, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn quit(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn received(&self) -> PathBuf {
        let rec = self.dir.path().join("rec");
        std::fs::read_dir(&rec)
            .expect("rec dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no received-audio dump in {}", rec.display()))
    }
}

/// The `m=audio` ports in SDP bodies of a baresip SIP trace.
fn audio_ports(trace: &str) -> Vec<u16> {
    trace
        .lines()
        .filter_map(|l| l.trim().strip_prefix("m=audio "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn relayed(server: std::net::SocketAddr) -> u64 {
    let (_, text) = common::http(server, "GET", "/metrics", None);
    text.lines()
        .find_map(|l| l.strip_prefix("switchboard_rtp_packets_relayed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// One call from `caller` (playing `caller_tone`) to `callee` (auto-answer, playing
/// `callee_tone`), checked end to end.
fn call(
    baresip: &Path,
    server: &common::Server,
    (caller, caller_tone): (&str, f64),
    (callee, callee_tone): (&str, f64),
) {
    let mut answering = Phone::start(baresip, callee, callee_tone, server.sip, None);
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        let (_, body) = common::http(
            server.http,
            "GET",
            &format!("/reg/127.0.0.1/{callee}"),
            None,
        );
        if body.contains(r#""registered":true"#) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = relayed(server.http);
    let target = format!("sip:{callee}@{}", server.sip);
    let mut calling = Phone::start(baresip, caller, caller_tone, server.sip, Some(&target));

    // Let the call run for a few seconds of audio, then hang up from the caller's side.
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end && !calling.log().contains("Call established") {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        calling.log().contains("Call established"),
        "no call:\n{}",
        calling.log()
    );
    std::thread::sleep(Duration::from_secs(4));
    let during = relayed(server.http);
    calling.quit();
    std::thread::sleep(Duration::from_millis(500));
    answering.quit();

    // Both phones were given the relay's ports, never each other's.
    for (name, phone) in [(caller, &calling), (callee, &answering)] {
        let ports = audio_ports(&phone.log());
        assert!(
            ports.iter().any(|p| (RTP_LO..=RTP_HI).contains(p)),
            "{name} never saw a relay port in SDP: {ports:?}\n{}",
            phone.log()
        );
    }
    assert!(
        during.saturating_sub(before) > 200,
        "relay counter rose by {} only",
        during.saturating_sub(before)
    );
    if let Err(e) = hears(&answering.received(), caller_tone, callee_tone) {
        panic!("{callee} did not hear {caller}: {e}");
    }
    if let Err(e) = hears(&calling.received(), callee_tone, caller_tone) {
        panic!("{caller} did not hear {callee}: {e}");
    }
}

#[test]
fn baresip_call_carries_tones_both_ways_through_the_relay() {
    let Some(baresip) = common::peer("baresip") else {
        return;
    };
    let config = format!(
        "[rtp]\nports = \"{RTP_LO}-{RTP_HI}\"\n[[domain]]\nname = \"127.0.0.1\"\n\
         users = [{{ username = \"alice\", secret = \"alicepw\" }}, {{ username = \"bob\", secret = \"bobpw\" }}]\n"
    );
    let server = common::Server::start_with_config(&config, &[]);
    // alice calls bob, then bob calls alice.
    call(&baresip, &server, ("alice", 1000.0), ("bob", 440.0));
    call(&baresip, &server, ("bob", 440.0), ("alice", 1000.0));
    // Each call left one CDR, hung up by its caller.
    let cdrs = common::wait_cdrs(&server, "127.0.0.1", 2, Duration::from_secs(10));
    assert_eq!(cdrs.len(), 2, "{cdrs:?}");
    assert!(
        cdrs.iter()
            .all(|c| c.code == 200 && c.hangup_by == "caller" && c.answer.is_some()),
        "{cdrs:?}"
    );
}
