//! `switchboard 9p`: a small 9P2000 client for operators and scripts (DESIGN.md section 15):
//! `switchboard 9p -a tcp!HOST!PORT|unix!PATH [-u USER@DOMAIN] CMD PATH`, the secret from
//! `SWITCHBOARD_SECRET`. It does the afid exchange of the README, then one of `ls`, `cat`,
//! `write` (stdin, sent as one message when it fits, so a ctl command stays whole), `stat`,
//! `rm`, `mkdir`. Blocking sockets around the sans-IO [`ninep::client::Client`].

use std::io::{Read, Write};

use anyhow::{Context, bail};
use clap::Args;
use net::mux::NinepAddr;
use ninep::client::Client;
use ninep::frame::{self, Frame};
use ninep::msg::{DMDIR, DirEntries, Fcall, Fid, OREAD, OWRITE, Stat};
use sip::digest::Algorithm;

#[derive(Debug, Args)]
pub struct NinepArgs {
    /// The server: tcp!HOST!PORT or unix!PATH.
    #[arg(short = 'a', value_name = "ADDR")]
    addr: String,
    /// Log in as USER@DOMAIN (or admin@DOMAIN), with the secret from SWITCHBOARD_SECRET.
    /// Without it: the operator, on the Unix socket only.
    #[arg(short = 'u', value_name = "USER@DOMAIN")]
    user: Option<String>,
    /// ls, cat, write, stat, rm or mkdir.
    #[arg(value_parser = ["ls", "cat", "write", "stat", "rm", "mkdir"])]
    command: String,
    /// A path from the login's root.
    path: String,
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

struct Conn {
    stream: Box<dyn Stream>,
    client: Client,
    input: Vec<u8>,
}

impl Conn {
    fn dial(addr: &str) -> anyhow::Result<Conn> {
        let stream: Box<dyn Stream> = match addr.parse::<NinepAddr>()? {
            NinepAddr::Tcp { host, port } => {
                let s = std::net::TcpStream::connect((host.as_str(), port))
                    .with_context(|| format!("cannot connect to {addr}"))?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
            NinepAddr::Unix(path) => Box::new(
                std::os::unix::net::UnixStream::connect(path)
                    .with_context(|| format!("cannot connect to {addr}"))?,
            ),
        };
        Ok(Conn {
            stream,
            client: Client::new(64 * 1024),
            input: Vec::new(),
        })
    }

    /// Sends what `request` encodes and returns the reply (owned), or the Rerror as an error.
    fn rpc<T>(
        &mut self,
        request: impl FnOnce(&mut Client, &mut Vec<u8>) -> Result<T, ninep::client::ClientError>,
        reply: impl FnOnce(Fcall<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<T> {
        let mut out = Vec::new();
        let t = request(&mut self.client, &mut out)?;
        self.stream.write_all(&out)?;
        loop {
            match frame::check(&self.input, self.client.msize().max(8192)) {
                Frame::Message(n) => {
                    let frame: Vec<u8> = self.input.drain(..n).collect();
                    let r = self.client.handle(&frame)?;
                    return match r.result() {
                        Ok(body) => reply(body).map(|()| t),
                        Err(ename) => bail!("{ename}"),
                    };
                }
                Frame::Incomplete => {
                    let mut chunk = [0u8; 8192];
                    let n = self.stream.read(&mut chunk)?;
                    if n == 0 {
                        bail!("the server closed the connection");
                    }
                    self.input.extend_from_slice(&chunk[..n]);
                }
                other => bail!("bad reply framing: {other:?}"),
            }
        }
    }

    fn login(&mut self, user: Option<&str>) -> anyhow::Result<Fid> {
        self.rpc(|c, out| c.version(out), |_| Ok(()))?;
        let Some(user) = user else {
            return self.rpc(
                |c, out| c.attach(None, "operator", "", out).map(|(_, f)| f),
                |_| Ok(()),
            );
        };
        let secret = std::env::var("SWITCHBOARD_SECRET")
            .context("-u needs the secret in SWITCHBOARD_SECRET")?;
        let afid = self.rpc(|c, out| c.auth(user, "", out).map(|(_, f)| f), |_| Ok(()))?;
        let mut challenge = String::new();
        let max = self.client.max_io();
        self.rpc(
            |c, out| c.read(afid, 0, max.min(512), out),
            |body| {
                if let Fcall::Rread { data } = body {
                    challenge = String::from_utf8_lossy(data).into_owned();
                }
                Ok(())
            },
        )?;
        let field = |name: &str| {
            challenge
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_owned)
        };
        let (realm, nonce) = field("realm")
            .zip(field("nonce"))
            .with_context(|| format!("unexpected challenge {challenge:?}"))?;
        let name = user.split_once('@').map_or(user, |(u, _)| u);
        let ha1 = Algorithm::Sha256.hash_hex(format!("{name}:{realm}:{secret}").as_bytes());
        let response = Algorithm::Sha256.hash_hex(format!("{ha1}:{nonce}").as_bytes());
        let line = format!("response=\"{response}\"\n");
        self.rpc(|c, out| c.write(afid, 0, line.as_bytes(), out), |_| Ok(()))
            .context("authentication")?;
        let root = self.rpc(
            |c, out| c.attach(Some(afid), user, "", out).map(|(_, f)| f),
            |_| Ok(()),
        )?;
        self.rpc(|c, out| c.clunk(afid, out), |_| Ok(()))?;
        Ok(root)
    }

    fn walk(&mut self, root: Fid, path: &str) -> anyhow::Result<Fid> {
        let names: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut wanted = names.len();
        let fid = self.rpc(
            |c, out| c.walk(root, &names, out).map(|(_, f)| f),
            |body| {
                if let Fcall::Rwalk { wqids } = body
                    && wqids.len() == wanted
                {
                    wanted = 0;
                }
                Ok(())
            },
        )?;
        if wanted != 0 {
            bail!("{path}: file does not exist");
        }
        Ok(fid)
    }

    fn read_all(&mut self, fid: Fid) -> anyhow::Result<Vec<u8>> {
        let mut all = Vec::new();
        loop {
            let max = self.client.max_io();
            let offset = all.len() as u64;
            let mut got = 0;
            self.rpc(
                |c, out| c.read(fid, offset, max, out),
                |body| {
                    if let Fcall::Rread { data } = body {
                        got = data.len();
                        all.extend_from_slice(data);
                    }
                    Ok(())
                },
            )?;
            if got == 0 {
                return Ok(all);
            }
        }
    }
}

fn print_stat(s: &Stat<'_>) {
    let dir = if s.mode & DMDIR != 0 { "d" } else { "-" };
    println!(
        "{dir}{:03o} {} {} {} {}",
        s.mode & 0o777,
        s.uid,
        s.gid,
        s.length,
        s.name
    );
}

/// Runs one command.
pub fn run(args: NinepArgs) -> anyhow::Result<()> {
    let mut conn = Conn::dial(&args.addr)?;
    let root = conn.login(args.user.as_deref())?;
    let path = args.path.as_str();
    match args.command.as_str() {
        "ls" | "cat" => {
            let fid = conn.walk(root, path)?;
            conn.rpc(|c, out| c.open(fid, OREAD, out), |_| Ok(()))?;
            let data = conn.read_all(fid)?;
            if args.command == "cat" {
                std::io::stdout().write_all(&data)?;
            } else {
                for entry in DirEntries::new(&data) {
                    print_stat(&entry.context("a directory entry")?);
                }
            }
        }
        "write" => {
            let mut data = Vec::new();
            std::io::stdin().read_to_end(&mut data)?;
            let fid = conn.walk(root, path)?;
            conn.rpc(|c, out| c.open(fid, OWRITE, out), |_| Ok(()))?;
            let max = conn.client.max_io() as usize;
            let mut offset = 0;
            for chunk in data.chunks(max.max(1)) {
                conn.rpc(|c, out| c.write(fid, offset, chunk, out), |_| Ok(()))?;
                offset += chunk.len() as u64;
            }
        }
        "stat" => {
            let fid = conn.walk(root, path)?;
            conn.rpc(
                |c, out| c.stat(fid, out),
                |body| {
                    if let Fcall::Rstat { stat } = body {
                        print_stat(&stat);
                    }
                    Ok(())
                },
            )?;
        }
        "rm" => {
            let fid = conn.walk(root, path)?;
            conn.rpc(|c, out| c.remove(fid, out), |_| Ok(()))?;
        }
        "mkdir" => {
            let trimmed = path.trim_end_matches('/');
            let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
            let fid = conn.walk(root, parent)?;
            conn.rpc(
                |c, out| c.create(fid, name, DMDIR | 0o755, OREAD, out),
                |_| Ok(()),
            )?;
        }
        other => bail!("unknown command {other}"),
    }
    Ok(())
}
