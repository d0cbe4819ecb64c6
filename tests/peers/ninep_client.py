#!/usr/bin/env python3
"""An independent 9P2000 client for the tests: p9fs 0.0.4's py9p (PyPI), not our code.

It speaks to `switchboard serve` over TCP or the Unix socket, does the afid exchange of
DESIGN.md section 15 with py9p's low-level Client calls (_version, _auth, _read, _write,
_attach), then runs the operations given on the command line, one JSON line of output each:

    ninep_client.py --addr tcp!127.0.0.1!5640 --user alice@d.example --secret alicepw \
        ls / cat /presence write /ctl 'hangup' mkdir /carol rm /carol stat /ctl

`writeread PATH DATA` writes DATA and then reads the same fid (`dial` on a ctl file).
Socket files stay open across operations: `sockopen PATH`, `sockread PATH N` (N reads, each
one whole packet, as hex in "packets"), `sockwrite PATH HEX` (one packet).

Paths are relative to the attach's root. Without --user (Unix socket only) the attach uses
NOFID: the operator. Each result is {"op", "path", "ok", ...}: "entries" for ls (name, mode,
qid path), "data" for cat, "stat" for stat, "error" (the Rerror text) when refused.
py9p comes from scripts/test's `pip install --target target/peers/py p9fs==0.0.4`.
"""

import argparse
import hashlib
import io
import json
import os
import socket
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "target", "peers", "py"))

from py9p import py9p  # noqa: E402

AFID = 10
ROOT = 11
WALKED = 12


def connect(addr):
    kind, _, rest = addr.partition("!")
    if kind == "tcp":
        host, _, port = rest.rpartition("!")
        return socket.create_connection((host, int(port)), timeout=10)
    if kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(rest)
        return s
    raise SystemExit("bad --addr: " + addr)


def client(sock, msize):
    """A py9p Client without its login(): py9p would insist on its own 'pki' auth."""
    c = py9p.Client.__new__(py9p.Client)
    c.credentials = None
    c.version = py9p.Version.v9P2000
    c.msize = msize
    c.fd = py9p.Sock(sock, 0, 0)
    r = c._version(msize, b"9P2000")
    c.msize = r.msize
    return c


def text(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def authenticate(c, user, secret):
    """The afid exchange: read the challenge, write response="<hex>"."""
    c._auth(AFID, user.encode(), b"")
    challenge = text(c._read(AFID, 0, 512).data)
    fields = dict(
        part.split("=", 1) for part in challenge.strip().split(" ")[1:] if "=" in part
    )
    realm = fields["realm"].strip('"')
    nonce = fields["nonce"].strip('"')
    name = user.split("@", 1)[0]
    ha1 = hashlib.sha256(f"{name}:{realm}:{secret}".encode()).hexdigest()
    response = hashlib.sha256(f"{ha1}:{nonce}".encode()).hexdigest()
    c._write(AFID, 0, f'response="{response}"\n'.encode())
    return challenge


def walk(c, path):
    names = [p for p in path.split("/") if p]
    c._walk(ROOT, WALKED, names)


def read_all(c, fid):
    out = b""
    off = 0
    while True:
        r = c._read(fid, off, c.msize - 24)
        if not r.data:
            return out
        out += r.data
        off += len(r.data)


def stat_json(s):
    return {
        "name": text(s.name),
        "mode": s.mode,
        "qid_path": s.qid.path,
        "qid_type": s.qid.type,
        "uid": text(s.uid),
        "length": s.length,
    }


SOCKETS = {}


def socket_fid(c, path, mode):
    """A fid kept open on a socket file across operations (sockopen, sockread, sockwrite)."""
    if path not in SOCKETS:
        fid = 100 + len(SOCKETS)
        c._walk(ROOT, fid, [p for p in path.split("/") if p])
        c._open(fid, mode)
        SOCKETS[path] = fid
    return SOCKETS[path]


def run(c, op, path, arg):
    if op == "sockopen":
        socket_fid(c, path, py9p.ORDWR if "rtp_" in path else py9p.OREAD)
        return {}
    if op == "sockread":
        fid = socket_fid(c, path, py9p.ORDWR if "rtp_" in path else py9p.OREAD)
        packets = []
        for _ in range(int(arg)):
            r = c._read(fid, 0, c.msize - 24)
            packets.append(r.data.hex())
            if not r.data:
                break
        return {"packets": packets}
    if op == "sockwrite":
        fid = socket_fid(c, path, py9p.ORDWR)
        return {"count": c._write(fid, 0, bytes.fromhex(arg)).count}
    if op == "mkdir":
        parent, _, name = path.rstrip("/").rpartition("/")
        walk(c, parent)
        try:
            c._create(WALKED, name.encode(), py9p.DMDIR | 0o755, py9p.OREAD)
            return {}
        finally:
            c._clunk(WALKED)
    walk(c, path)
    try:
        if op == "ls":
            c._open(WALKED, py9p.OREAD)
            raw = read_all(c, WALKED)
            # Whole stat entries, each with its own size[2]: py9p's own decoder.
            m = py9p.Marshal9P()
            m.buf = io.BytesIO(raw)
            stats = []
            m.decstat(stats)
            return {"entries": [stat_json(s) for s in stats]}
        if op == "cat":
            c._open(WALKED, py9p.OREAD)
            return {"data": text(read_all(c, WALKED))}
        if op == "write":
            c._open(WALKED, py9p.OWRITE)
            r = c._write(WALKED, 0, arg.encode())
            return {"count": r.count}
        if op == "writeread":
            # A ctl exchange on one fid: the command, then what the file says back.
            c._open(WALKED, py9p.ORDWR)
            c._write(WALKED, 0, arg.encode())
            return {"data": text(read_all(c, WALKED))}
        if op == "stat":
            return {"stat": stat_json(c._stat(WALKED).stat[0])}
        if op == "rm":
            c._remove(WALKED)
            return {"clunked": True}
        raise SystemExit("unknown op " + op)
    finally:
        try:
            c._clunk(WALKED)
        except py9p.RpcError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--user")
    ap.add_argument("--secret", default=os.environ.get("SWITCHBOARD_SECRET", ""))
    ap.add_argument("--msize", type=int, default=65536)
    ap.add_argument("ops", nargs="*")
    a = ap.parse_args()
    sock = connect(a.addr)
    c = client(sock, a.msize)
    out = {"op": "attach", "msize": c.msize}
    try:
        if a.user:
            out["challenge"] = authenticate(c, a.user, a.secret)
            c._attach(ROOT, AFID, a.user.encode(), b"")
        else:
            c._attach(ROOT, py9p.NOFID, b"operator", b"")
        out["ok"] = True
    except py9p.RpcError as e:
        out.update(ok=False, error=text(e.args[0]) if e.args else str(e))
        print(json.dumps(out), flush=True)
        return
    print(json.dumps(out), flush=True)
    ops = list(a.ops)
    while ops:
        op = ops.pop(0)
        path = ops.pop(0)
        arg = ops.pop(0) if op in ("write", "writeread", "sockread", "sockwrite") else None
        result = {"op": op, "path": path}
        try:
            result.update(run(c, op, path, arg))
            result["ok"] = True
        except py9p.RpcError as e:
            result.update(ok=False, error=text(e.args[0]) if e.args else str(e))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
