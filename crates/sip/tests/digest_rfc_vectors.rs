//! The published Digest examples: RFC 7616 section 3.9.1 (MD5 and SHA-256) and RFC 2617
//! section 3.5 (MD5), through the arithmetic and through the parsed header values; and RFC
//! 4475's `regaut01`, whose unknown scheme must be refused, not trip anything.

use std::path::PathBuf;

use sip::digest::{
    Algorithm, Challenge, Credentials, DigestError, Qop, ha1, ha2, response, session_ha1,
};
use sip::{HeaderName, Message, StatusCode};

const USER: &str = "Mufasa";
const PASSWORD: &str = "Circle of Life";
const REALM: &str = "http-auth@example.org";
const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const URI: &str = "/dir/index.html";

const MD5_RESPONSE: &str = "8ca523f5e9506fed4657c9700eebdbec";
const SHA256_RESPONSE: &str = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";

fn rfc7616(alg: Algorithm) -> String {
    let ha1 = ha1(alg, USER, REALM, PASSWORD);
    response(alg, &ha1, NONCE, 1, CNONCE, Some(Qop::Auth), "GET", URI).expect("qop=auth")
}

#[test]
fn rfc7616_md5_response() {
    assert_eq!(rfc7616(Algorithm::Md5), MD5_RESPONSE);
}

#[test]
fn rfc7616_sha256_response() {
    assert_eq!(rfc7616(Algorithm::Sha256), SHA256_RESPONSE);
}

#[test]
fn rfc7616_intermediate_hashes() {
    // The RFC prints an MD5 HA1 (12af87...) that is a known erratum; these are the values
    // that yield its (correct) responses.
    assert_eq!(
        ha1(Algorithm::Md5, USER, REALM, PASSWORD),
        "3d78807defe7de2157e2b0b6573a855f"
    );
    assert_eq!(
        ha2(Algorithm::Md5, "GET", URI),
        "39aff3a2bab6126f332b942af96d3366"
    );
}

#[test]
fn rfc7616_sess_variants() {
    // Not in the RFC: computed from its inputs by the Python peer (tests/peers) and by
    // other implementations, which agree.
    assert_eq!(
        rfc7616(Algorithm::Md5Sess),
        "e783283f46242139c486a698fec7211d"
    );
    assert_eq!(
        rfc7616(Algorithm::Sha256Sess),
        "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7"
    );
    let plain = ha1(Algorithm::Md5, USER, REALM, PASSWORD);
    assert_eq!(session_ha1(Algorithm::Md5, &plain, NONCE, CNONCE), plain);
    assert_ne!(
        session_ha1(Algorithm::Md5Sess, &plain, NONCE, CNONCE),
        plain
    );
}

#[test]
fn rfc7616_challenges_parse() {
    // The two WWW-Authenticate values of section 3.9.1, unfolded.
    for (alg, token) in [(Algorithm::Sha256, "SHA-256"), (Algorithm::Md5, "MD5")] {
        let value = format!(
            "Digest realm=\"{REALM}\", qop=\"auth, auth-int\", algorithm={token}, \
             nonce=\"{NONCE}\", opaque=\"{OPAQUE}\""
        );
        let c = Challenge::parse(&value).expect("RFC challenge");
        assert_eq!(c.realm, REALM);
        assert_eq!(c.nonce, NONCE);
        assert_eq!(c.opaque.as_deref(), Some(OPAQUE));
        assert_eq!(c.algorithm, alg);
        assert_eq!(c.qop, vec![Qop::Auth, Qop::AuthInt]);
        assert!(!c.stale);

        // A client answering it with the RFC's cnonce sends the RFC's credentials.
        let ha1 = ha1(alg, USER, REALM, PASSWORD);
        let creds = Credentials::answer(&c, USER, &ha1, "GET", URI, CNONCE, 1).expect("answer");
        let want = if alg == Algorithm::Md5 {
            MD5_RESPONSE
        } else {
            SHA256_RESPONSE
        };
        assert_eq!(creds.response, want);
        assert_eq!(creds.opaque.as_deref(), Some(OPAQUE));
    }
}

#[test]
fn rfc7616_credentials_verify_from_ha1() {
    // The SHA-256 Authorization value of section 3.9.1, unfolded.
    let value = format!(
        "Digest username=\"{USER}\", realm=\"{REALM}\", uri=\"{URI}\", algorithm=SHA-256, \
         nonce=\"{NONCE}\", nc=00000001, cnonce=\"{CNONCE}\", qop=auth, \
         response=\"{SHA256_RESPONSE}\", opaque=\"{OPAQUE}\""
    );
    let creds = Credentials::parse(&value).expect("RFC credentials");
    assert_eq!(creds.username, USER);
    assert_eq!(creds.algorithm, Algorithm::Sha256);
    assert_eq!(creds.nc, Some(1));
    assert_eq!(creds.qop, Some(Qop::Auth));
    assert_eq!(creds.cnonce.as_deref(), Some(CNONCE));

    let stored = ha1(Algorithm::Sha256, USER, REALM, PASSWORD);
    assert!(creds.verify("GET", &stored));
    // A stored HA1 written in uppercase is the same digest.
    assert!(creds.verify("GET", &stored.to_ascii_uppercase()));
    // Wrong password, wrong method, an HA1 of another algorithm: refused.
    assert!(!creds.verify(
        "GET",
        &ha1(Algorithm::Sha256, USER, REALM, "circle of life")
    ));
    assert!(!creds.verify("POST", &stored));
    assert!(!creds.verify("GET", &ha1(Algorithm::Md5, USER, REALM, PASSWORD)));
    assert!(!creds.verify("GET", ""));

    // Another nc or cnonce than the one the response was computed with: refused.
    let mut replayed = creds.clone();
    replayed.nc = Some(2);
    assert!(!replayed.verify("GET", &stored));
    let mut other = creds.clone();
    other.cnonce = Some("x".into());
    assert!(!other.verify("GET", &stored));
}

#[test]
fn rfc2617_example() {
    // Section 3.5, with the Authorization value unfolded.
    let challenge = Challenge::parse(
        "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .expect("RFC 2617 challenge");
    assert_eq!(challenge.algorithm, Algorithm::Md5);

    let value = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
                 qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
                 response=\"6629fae49393a05397450978507c4ef1\", \
                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    let creds = Credentials::parse(value).expect("RFC 2617 credentials");
    assert_eq!(creds.algorithm, Algorithm::Md5);
    let stored = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert!(creds.verify("GET", &stored));

    let computed = response(
        Algorithm::Md5,
        &stored,
        &challenge.nonce,
        1,
        "0a4f113b",
        Some(Qop::Auth),
        "GET",
        "/dir/index.html",
    )
    .expect("qop=auth");
    assert_eq!(computed, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc2069_form_without_qop() {
    let stored = ha1(Algorithm::Md5, USER, REALM, PASSWORD);
    // H(HA1:nonce:HA2), with the HA2 of the RFC example: nc and cnonce play no part.
    let want = Algorithm::Md5
        .hash_hex(format!("{stored}:{NONCE}:39aff3a2bab6126f332b942af96d3366").as_bytes());
    assert_eq!(
        response(
            Algorithm::Md5,
            &stored,
            NONCE,
            7,
            "ignored",
            None,
            "GET",
            URI
        ),
        Ok(want.clone())
    );
    assert_eq!(want, "7b2cc3b30e75b4777ea31027084363fd");

    // Credentials without qop (an RFC 2069 phone) verify too.
    let creds = Credentials::parse(&format!(
        "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{NONCE}\", uri=\"{URI}\", \
         response=\"{want}\""
    ))
    .expect("RFC 2069 credentials");
    assert_eq!(creds.qop, None);
    assert!(creds.verify("GET", &stored));
}

#[test]
fn auth_int_is_refused_not_miscomputed() {
    let stored = ha1(Algorithm::Md5, USER, REALM, PASSWORD);
    assert_eq!(
        response(
            Algorithm::Md5,
            &stored,
            NONCE,
            1,
            CNONCE,
            Some(Qop::AuthInt),
            "GET",
            URI
        ),
        Err(DigestError::UnsupportedQop { qop: Qop::AuthInt })
    );
    let creds = Credentials::parse(&format!(
        "Digest username=\"{USER}\", realm=\"{REALM}\", nonce=\"{NONCE}\", uri=\"{URI}\", \
         response=\"{MD5_RESPONSE}\", qop=auth-int, nc=00000001, cnonce=\"{CNONCE}\""
    ))
    .expect("auth-int parses");
    assert!(!creds.verify("GET", &stored));
}

#[test]
fn rfc4475_regaut01_unknown_scheme() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/rfc4475/regaut01.dat");
    let bytes = std::fs::read(path).expect("regaut01.dat");
    let msg = Message::parse(&bytes).expect("regaut01 is a valid message");
    let value = msg
        .head()
        .get(&HeaderName::Authorization)
        .expect("an Authorization header");
    let err = Credentials::parse(value).expect_err("unknown scheme");
    assert_eq!(
        err,
        DigestError::UnsupportedScheme {
            scheme: "NoOneKnowsThisScheme".into()
        }
    );
    // RFC 4475 section 3.3.7: the answer is a 401 with a challenge.
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
}
