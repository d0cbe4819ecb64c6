//! A phone that speaks 9P, for the `ninep_sip_sock_*` tests: it logs in as an extension with
//! the afid exchange of the README, makes `uacs/<name>/`, opens its `sip.sock`, and writes and
//! reads SIP messages there, one per 9P write and read. Blocking sockets around the sans-IO
//! `ninep::client::Client`, like `switchboard 9p`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ninep::client::{Client, ClientError};
use ninep::frame::{self, Frame};
use ninep::msg::{DMDIR, Fcall, Fid, ORDWR, OREAD};
use sip::digest::Algorithm;

/// One 9P connection, logged in as an extension.
pub struct Phone {
    stream: TcpStream,
    client: Client,
    input: Vec<u8>,
    root: Fid,
    sock: Option<Fid>,
}

impl Phone {
    /// Connects to `addr` and logs in as `user@domain` with `secret`.
    pub fn login(addr: SocketAddr, user: &str, domain: &str, secret: &str) -> Phone {
        let stream = TcpStream::connect(addr).expect("9P connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let mut phone = Phone {
            stream,
            client: Client::new(64 * 1024),
            input: Vec::new(),
            root: Fid(0),
            sock: None,
        };
        let uname = format!("{user}@{domain}");
        phone.rpc(|c, o| c.version(o)).expect("Tversion");
        let (afid, _) = phone
            .rpc(|c, o| c.auth(&uname, "", o).map(|(_, f)| f))
            .expect("Tauth");
        let (_, challenge) = phone
            .rpc(|c, o| c.read(afid, 0, 512, o))
            .expect("afid read");
        let challenge = String::from_utf8_lossy(&challenge).into_owned();
        let field = |name: &str| {
            challenge
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_owned)
                .expect("challenge field")
        };
        let (realm, nonce) = (field("realm"), field("nonce"));
        let ha1 = Algorithm::Sha256.hash_hex(format!("{user}:{realm}:{secret}").as_bytes());
        let response = Algorithm::Sha256.hash_hex(format!("{ha1}:{nonce}").as_bytes());
        let line = format!("response=\"{response}\"\n");
        phone
            .rpc(|c, o| c.write(afid, 0, line.as_bytes(), o))
            .expect("afid answer");
        let (root, _) = phone
            .rpc(|c, o| c.attach(Some(afid), &uname, "", o).map(|(_, f)| f))
            .expect("Tattach");
        phone.rpc(|c, o| c.clunk(afid, o)).expect("clunk afid");
        phone.root = root;
        phone
    }

    /// Sends one request and waits for its reply: the request's value and the data of an
    /// Rread (empty otherwise), or the Rerror's text.
    fn rpc<T>(
        &mut self,
        request: impl FnOnce(&mut Client, &mut Vec<u8>) -> Result<T, ClientError>,
    ) -> Result<(T, Vec<u8>), String> {
        let mut out = Vec::new();
        let t = request(&mut self.client, &mut out).map_err(|e| e.to_string())?;
        self.stream.write_all(&out).expect("9P write");
        loop {
            match frame::check(&self.input, self.client.msize().max(8192)) {
                Frame::Message(n) => {
                    let frame: Vec<u8> = self.input.drain(..n).collect();
                    let reply = self.client.handle(&frame).map_err(|e| e.to_string())?;
                    return match reply.result() {
                        Ok(Fcall::Rread { data }) => Ok((t, data.to_vec())),
                        Ok(Fcall::Rwalk { wqids }) if wqids.is_empty() => Ok((t, Vec::new())),
                        Ok(_) => Ok((t, Vec::new())),
                        Err(ename) => Err(ename.to_owned()),
                    };
                }
                Frame::Incomplete => {
                    let mut chunk = [0u8; 8192];
                    let n = self.stream.read(&mut chunk).expect("9P reply in time");
                    assert!(n > 0, "the 9P server closed the connection");
                    self.input.extend_from_slice(&chunk[..n]);
                }
                other => panic!("bad 9P framing: {other:?}"),
            }
        }
    }

    /// A new fid for `path` (names separated by `/`), from the login's root.
    pub fn walk(&mut self, path: &str) -> Result<Fid, String> {
        let names: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let root = self.root;
        let before = self.client.live_fids();
        let (fid, _) = self.rpc(|c, o| c.walk(root, &names, o).map(|(_, f)| f))?;
        // A partial walk makes no fid.
        if self.client.live_fids() == before {
            return Err(format!("{path}: file does not exist"));
        }
        Ok(fid)
    }

    /// The names in directory `path`.
    pub fn ls(&mut self, path: &str) -> Result<Vec<String>, String> {
        let fid = self.walk(path)?;
        self.rpc(|c, o| c.open(fid, OREAD, o))?;
        let mut all = Vec::new();
        loop {
            let offset = all.len() as u64;
            let (_, data) = self.rpc(|c, o| c.read(fid, offset, 8192, o))?;
            if data.is_empty() {
                break;
            }
            all.extend_from_slice(&data);
        }
        self.rpc(|c, o| c.clunk(fid, o))?;
        let mut names = Vec::new();
        for entry in ninep::msg::DirEntries::new(&all) {
            names.push(entry.map_err(|e| e.to_string())?.name.to_string());
        }
        Ok(names)
    }

    /// The content of file `path`.
    pub fn cat(&mut self, path: &str) -> Result<String, String> {
        let fid = self.walk(path)?;
        self.rpc(|c, o| c.open(fid, OREAD, o))?;
        let mut all = Vec::new();
        loop {
            let offset = all.len() as u64;
            let (_, data) = self.rpc(|c, o| c.read(fid, offset, 8192, o))?;
            if data.is_empty() {
                break;
            }
            all.extend_from_slice(&data);
        }
        self.rpc(|c, o| c.clunk(fid, o))?;
        Ok(String::from_utf8_lossy(&all).into_owned())
    }

    /// mkdir `dir/name`.
    pub fn mkdir(&mut self, dir: &str, name: &str) -> Result<(), String> {
        let fid = self.walk(dir)?;
        let made = self.rpc(|c, o| c.create(fid, name, DMDIR | 0o755, OREAD, o));
        let _ = self.rpc(|c, o| c.clunk(fid, o));
        made.map(|_| ())
    }

    /// Opens `path` (a `sip.sock`) for reading and writing; the file is this phone's
    /// signalling from now on.
    pub fn open_sock(&mut self, path: &str) -> Result<(), String> {
        let fid = self.walk(path)?;
        if let Err(e) = self.rpc(|c, o| c.open(fid, ORDWR, o)) {
            let _ = self.rpc(|c, o| c.clunk(fid, o));
            return Err(e);
        }
        self.sock = Some(fid);
        Ok(())
    }

    /// Writes one SIP message to the open `sip.sock`.
    pub fn send(&mut self, message: &str) -> Result<(), String> {
        let fid = self.sock.expect("sip.sock open");
        self.rpc(|c, o| c.write(fid, 0, message.as_bytes(), o))
            .map(|_| ())
    }

    /// Reads the next SIP message from the open `sip.sock` (blocks until one comes).
    pub fn recv(&mut self) -> String {
        let fid = self.sock.expect("sip.sock open");
        let (_, data) = self
            .rpc(|c, o| c.read(fid, 0, 60_000, o))
            .expect("sip.sock read");
        String::from_utf8(data).expect("SIP is text")
    }

    /// Reads until a message whose first line starts with `start` (skipping others, such as
    /// provisional responses), within `limit` messages.
    pub fn recv_until(&mut self, start: &str, limit: usize) -> String {
        let mut skipped = Vec::new();
        for _ in 0..limit {
            let msg = self.recv();
            if msg.starts_with(start) {
                return msg;
            }
            skipped.push(msg.lines().next().unwrap_or("").to_owned());
        }
        panic!("no {start:?} on sip.sock; got {skipped:?}");
    }

    /// Clunks the `sip.sock` fid.
    pub fn close_sock(&mut self) {
        if let Some(fid) = self.sock.take() {
            self.rpc(|c, o| c.clunk(fid, o)).expect("clunk sip.sock");
        }
    }
}

/// The value of the first header `name` of `msg` (full names only).
pub fn header(msg: &str, name: &str) -> Option<String> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// The status code of a response.
pub fn status(msg: &str) -> u16 {
    msg.strip_prefix("SIP/2.0 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The tag of the To header.
pub fn to_tag(msg: &str) -> String {
    header(msg, "To")
        .and_then(|t| {
            t.split(";tag=")
                .nth(1)
                .map(|t| t.split(';').next().unwrap_or(t).to_owned())
        })
        .unwrap_or_default()
}

/// The URI in the Contact header.
pub fn contact_uri(msg: &str) -> Option<String> {
    header(msg, "Contact").and_then(|c| c.split(['<', '>']).nth(1).map(str::to_owned))
}

/// The body.
pub fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// An RTP packet: PCMA, 20 ms of silence.
pub fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x9e1f_0001_u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}
