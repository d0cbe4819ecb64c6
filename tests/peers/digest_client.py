#!/usr/bin/env python3
"""An independent SIP digest test peer: a tiny UAC that registers over UDP.

It sends REGISTER, reads the 401 (or 407) challenge, answers it with digest credentials
computed here with hashlib (RFC 7616 / RFC 2617 arithmetic written out again, sharing nothing
with the Rust `sip::digest` module), and reports each exchange as one JSON object per line on
stdout, so that Rust tests can parse what happened. It covers what SIPp cannot script easily:

  --algorithm SHA-256    answer the first challenge of that algorithm (MD5 by default)
  --replay-nc            send a second authenticated REGISTER with the same nonce, cnonce and
                         nc=00000001, and report the status and whether a new nonce came back
  --wait-stale SECONDS   sleep before answering, so that the nonce expires; report stale=true
  --wrong-password       answer with a wrong password

Other modes:

  --self-test            check this file's arithmetic against RFC 7616 section 3.9.1 and exit
  --compute ALG USER REALM PASSWORD NONCE NC CNONCE QOP METHOD URI
                         print the response for these inputs (QOP "auth", or "" / "none" for
                         the RFC 2069 form) and exit

The self-test also runs before every exchange. Exit status: 0 when the exchanges completed,
whatever their status codes; 1 when the self-test fails; 2 for a usage error; 3 when the
server did not answer in time (or the socket failed); 4 for a protocol error (an unparsable
response, no challenge of the wanted algorithm).

Output: one JSON object per line and exchange, with "exchange" ("initial", "authenticated",
"replay"), "status", "reason", "challenges" (algorithm, realm, nonce, qop, opaque, stale of
each Digest challenge in a 401/407), "stale", "authentication_info", "contact", "expires",
and for answered challenges "algorithm", "nonce", "nc" and "new_nonce" (a challenge came back
with another nonce). Passwords and responses are never printed.

Python 3 standard library only. Loopback addresses only by default.
"""

import argparse
import hashlib
import json
import re
import secrets
import socket
import sys
import time

EXIT_SELF_TEST = 1
EXIT_TIMEOUT = 3
EXIT_PROTOCOL = 4

HASHES = {
    "MD5": "md5",
    "SHA-256": "sha256",
    "SHA-512-256": "sha512_256",
}


class ProtocolError(Exception):
    """The server said something this client cannot follow."""


def hash_name(algorithm):
    """hashlib name for a Digest algorithm token, and whether it is a -sess variant."""
    token = algorithm.upper()
    sess = token.endswith("-SESS")
    if sess:
        token = token[: -len("-SESS")]
    for name, lib in HASHES.items():
        if name == token:
            return lib, sess
    raise ValueError("unknown algorithm " + algorithm)


def digest_response(algorithm, user, realm, password, nonce, nc, cnonce, qop, method, uri):
    """The `response` value, straight from RFC 7616 section 3.4.1 to 3.4.3."""
    lib, sess = hash_name(algorithm)

    def h(text):
        return hashlib.new(lib, text.encode("utf-8")).hexdigest()

    a1_hash = h(user + ":" + realm + ":" + password)
    if sess:
        a1_hash = h(a1_hash + ":" + nonce + ":" + cnonce)
    a2_hash = h(method + ":" + uri)
    if qop:
        return h(a1_hash + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + a2_hash)
    return h(a1_hash + ":" + nonce + ":" + a2_hash)


# RFC 7616 section 3.9.1: one request, answered with MD5 and with SHA-256.
RFC7616_EXAMPLE = {
    "user": "Mufasa",
    "realm": "http-auth@example.org",
    "password": "Circle of Life",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "nc": "00000001",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "qop": "auth",
    "method": "GET",
    "uri": "/dir/index.html",
}
RFC7616_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}


def self_test():
    """True when this file's arithmetic gives the RFC's two responses."""
    e = RFC7616_EXAMPLE
    for algorithm, want in RFC7616_RESPONSES.items():
        got = digest_response(
            algorithm, e["user"], e["realm"], e["password"], e["nonce"], e["nc"],
            e["cnonce"], e["qop"], e["method"], e["uri"],
        )
        if got != want:
            return False
    return True


# auth-param = token BWS "=" BWS ( token / quoted-string )
PARAM = re.compile(r'\s*([A-Za-z0-9!%*_+`\'~.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]+)\s*(?:,|$)')


def parse_challenge(value):
    """A Digest challenge as a dict of lowercase names; None for another scheme."""
    m = re.match(r"\s*([A-Za-z0-9!%*_+`'~.-]+)\s+(.*)$", value, re.S)
    if not m or m.group(1).lower() != "digest":
        return None
    params = {}
    rest = m.group(2)
    pos = 0
    while pos < len(rest):
        p = PARAM.match(rest, pos)
        if not p:
            raise ProtocolError("unparsable challenge: " + value)
        raw = p.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[p.group(1).lower()] = raw
        pos = p.end()
    return params


def parse_response(data):
    """(status, reason, headers as a list of (lowercase name, value)) of a SIP response."""
    text = data.decode("utf-8", errors="replace")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    lines = re.split(r"\r?\n", head)
    m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)$", lines[0])
    if not m:
        raise ProtocolError("not a SIP response: " + lines[0][:80])
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        if ":" not in line:
            raise ProtocolError("malformed header line: " + line[:80])
        name, value = line.split(":", 1)
        headers.append((name.strip().lower(), value.strip()))
    return int(m.group(1)), m.group(2), headers


def header(headers, *names):
    """Every value of the headers named (compact forms included by the caller)."""
    return [v for n, v in headers if n in names]


def challenge_summary(params):
    return {
        "algorithm": params.get("algorithm", "MD5"),
        "realm": params.get("realm"),
        "nonce": params.get("nonce"),
        "qop": params.get("qop"),
        "opaque": params.get("opaque"),
        "stale": params.get("stale", "").lower() == "true",
    }


class Uac:
    """One registration dialog: a socket, a Call-ID, a From tag and a CSeq counter."""

    def __init__(self, args):
        self.args = args
        self.server = (args.server_host, args.server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((args.bind, 0))
        self.sock.settimeout(args.timeout)
        self.local = self.sock.getsockname()
        self.call_id = secrets.token_hex(8) + "@" + self.local[0]
        self.tag = secrets.token_hex(4)
        self.cseq = 0
        self.domain = args.domain or args.server_host

    def request_uri(self):
        return "sip:" + self.domain

    def register(self, auth_header=None):
        """Sends one REGISTER and returns (status, reason, headers) of its final response."""
        self.cseq += 1
        branch = "z9hG4bK" + secrets.token_hex(8)
        aor = "sip:%s@%s" % (self.args.user, self.domain)
        lines = [
            "REGISTER %s SIP/2.0" % self.request_uri(),
            "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (self.local[0], self.local[1], branch),
            "Max-Forwards: 70",
            "From: <%s>;tag=%s" % (aor, self.tag),
            "To: <%s>" % aor,
            "Call-ID: " + self.call_id,
            "CSeq: %d REGISTER" % self.cseq,
            "Contact: <sip:%s@%s:%d>" % (self.args.user, self.local[0], self.local[1]),
            "Expires: %d" % self.args.expires,
            "User-Agent: switchboard-digest-peer",
        ]
        if auth_header:
            lines.append("%s: %s" % auth_header)
        lines.append("Content-Length: 0")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
        self.sock.sendto(data, self.server)
        while True:
            reply, _ = self.sock.recvfrom(65535)
            status, reason, headers = parse_response(reply)
            cseq = header(headers, "cseq")
            call_id = header(headers, "call-id", "i")
            if not cseq or not call_id or call_id[0] != self.call_id:
                continue
            if cseq[0].split()[0] != str(self.cseq):
                continue
            if status >= 200:
                return status, reason, headers


def challenges(status, headers):
    """(header name to answer with, [challenge dicts]) of a 401 or 407."""
    if status == 407:
        values, answer = header(headers, "proxy-authenticate"), "Proxy-Authorization"
    else:
        values, answer = header(headers, "www-authenticate"), "Authorization"
    parsed = [p for p in (parse_challenge(v) for v in values) if p is not None]
    return answer, parsed


def credentials(args, challenge, password, nc, cnonce, uri):
    """The Authorization value answering `challenge`, and the nc it uses."""
    algorithm = challenge.get("algorithm", "MD5")
    offered = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in offered else ""
    if offered and not qop:
        raise ProtocolError("challenge offers no qop=auth: " + challenge.get("qop", ""))
    nc_text = "%08x" % nc
    response = digest_response(
        algorithm, args.user, challenge["realm"], password, challenge["nonce"], nc_text,
        cnonce, qop, "REGISTER", uri,
    )
    parts = [
        'username="%s"' % args.user,
        'realm="%s"' % challenge["realm"],
        'nonce="%s"' % challenge["nonce"],
        'uri="%s"' % uri,
        'response="%s"' % response,
        "algorithm=%s" % algorithm,
    ]
    if qop:
        parts += ['cnonce="%s"' % cnonce, "qop=auth", "nc=" + nc_text]
    if "opaque" in challenge:
        parts.append('opaque="%s"' % challenge["opaque"])
    return "Digest " + ", ".join(parts)


def report(exchange, status, reason, headers, **extra):
    _, offered = challenges(status, headers) if status in (401, 407) else (None, [])
    line = {
        "exchange": exchange,
        "status": status,
        "reason": reason,
        "challenges": [challenge_summary(c) for c in offered],
        "stale": any(challenge_summary(c)["stale"] for c in offered),
        "authentication_info": header(headers, "authentication-info"),
        "contact": header(headers, "contact", "m"),
        "expires": header(headers, "expires"),
    }
    prior = extra.pop("prior_nonce", None)
    if prior is not None:
        # A fresh challenge whose nonce differs from the one just answered.
        line["new_nonce"] = any(c.get("nonce") not in (None, prior) for c in offered)
    line.update(extra)
    print(json.dumps(line), flush=True)
    return offered


def run(args):
    uac = Uac(args)
    status, reason, headers = uac.register()
    offered = report("initial", status, reason, headers, authorization=False)
    if status not in (401, 407):
        return 0
    answer_header, _ = challenges(status, headers)
    wanted = args.algorithm.upper()
    chosen = next(
        (c for c in offered if c.get("algorithm", "MD5").upper() == wanted and "nonce" in c
         and "realm" in c),
        None,
    )
    if chosen is None:
        raise ProtocolError("no %s challenge among %d" % (args.algorithm, len(offered)))

    if args.wait_stale:
        time.sleep(args.wait_stale)
    password = args.password + "-wrong" if args.wrong_password else args.password
    cnonce = args.cnonce or secrets.token_hex(8)
    uri = uac.request_uri()
    value = credentials(args, chosen, password, 1, cnonce, uri)
    status, reason, headers = uac.register((answer_header, value))
    report(
        "authenticated", status, reason, headers, authorization=True,
        algorithm=chosen.get("algorithm", "MD5"), nonce=chosen["nonce"], nc="00000001",
        waited=args.wait_stale or 0, wrong_password=args.wrong_password,
        prior_nonce=chosen["nonce"],
    )

    if args.replay_nc:
        # Same nonce, same cnonce, same nc: a replayed count the server must not accept.
        status, reason, headers = uac.register((answer_header, value))
        report(
            "replay", status, reason, headers, authorization=True,
            algorithm=chosen.get("algorithm", "MD5"), nonce=chosen["nonce"], nc="00000001",
            prior_nonce=chosen["nonce"],
        )
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Independent SIP digest UAC (REGISTER over UDP) for switchboard tests.",
    )
    p.add_argument("--server", default="127.0.0.1:5060", help="HOST:PORT (default %(default)s)")
    p.add_argument("--bind", default="127.0.0.1", help="local address (default %(default)s)")
    p.add_argument("--domain", help="domain of the AOR and Request-URI (default: server host)")
    p.add_argument("--user", default="alice")
    p.add_argument("--password", default="secret")
    p.add_argument("--algorithm", default="MD5", choices=["MD5", "SHA-256"],
                   type=lambda s: s.upper())
    p.add_argument("--cnonce", help="fixed cnonce (default: random)")
    p.add_argument("--expires", type=int, default=60)
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait per response")
    p.add_argument("--replay-nc", action="store_true")
    p.add_argument("--wait-stale", type=float, metavar="SECONDS")
    p.add_argument("--wrong-password", action="store_true")
    p.add_argument("--self-test", action="store_true")
    p.add_argument("--compute", nargs=10,
                   metavar=("ALG", "USER", "REALM", "PASSWORD", "NONCE", "NC", "CNONCE",
                            "QOP", "METHOD", "URI"))
    args = p.parse_args(argv)
    host, sep, port = args.server.rpartition(":")
    if not sep or not port.isdigit():
        p.error("--server must be HOST:PORT")
    args.server_host, args.server_port = host.strip("[]"), int(port)
    return args


def main(argv):
    args = parse_args(argv)
    if args.compute:
        alg, user, realm, password, nonce, nc, cnonce, qop, method, uri = args.compute
        qop = "" if qop.lower() in ("", "none") else qop
        try:
            print(digest_response(alg, user, realm, password, nonce, nc, cnonce, qop, method, uri))
        except ValueError as err:
            print(json.dumps({"error": str(err)}))
            return EXIT_PROTOCOL
        return 0
    ok = self_test()
    if args.self_test:
        print(json.dumps({"self_test": "ok" if ok else "failed"}))
        return 0 if ok else EXIT_SELF_TEST
    if not ok:
        print(json.dumps({"error": "self-test failed: RFC 7616 section 3.9.1"}), flush=True)
        return EXIT_SELF_TEST
    try:
        return run(args)
    except socket.timeout:
        print(json.dumps({"error": "timeout", "seconds": args.timeout}), flush=True)
        return EXIT_TIMEOUT
    except OSError as err:
        # ICMP port unreachable surfaces as ConnectionRefusedError on a later recvfrom.
        print(json.dumps({"error": "socket", "detail": str(err)}), flush=True)
        return EXIT_TIMEOUT
    except (ProtocolError, ValueError, KeyError) as err:
        print(json.dumps({"error": "protocol", "detail": str(err)}), flush=True)
        return EXIT_PROTOCOL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
