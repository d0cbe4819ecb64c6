//! Challenge and credentials values: what `Display` writes parses back to the same value,
//! phones' variations of the grammar are accepted, and malformed or abusive values are refused
//! with an error, never a panic (STYLE.md section 2).

use std::panic;

use sip::StatusCode;
use sip::digest::{
    Algorithm, Challenge, Credentials, DigestError, MAX_PARAMS, MAX_VALUE_LEN, Qop, ha1,
};

fn sample_credentials(alg: Algorithm) -> Credentials {
    let challenge = Challenge {
        opaque: Some("op \"quoted\" \\ back".into()),
        ..Challenge::new("pbx.example", "bm9uY2U=", alg)
    };
    let stored = ha1(alg, "alice", "pbx.example", "secret");
    Credentials::answer(
        &challenge,
        "alice",
        &stored,
        "REGISTER",
        "sip:pbx.example",
        "0a4f113b",
        0x1f,
    )
    .expect("qop=auth offered")
}

#[test]
fn challenge_display_matches_the_wire_form() {
    let mut c = Challenge::new("pbx.example", "abc", Algorithm::Md5);
    assert_eq!(
        c.to_string(),
        r#"Digest realm="pbx.example", nonce="abc", algorithm=MD5, qop="auth""#
    );
    c.opaque = Some("xyz".into());
    c.stale = true;
    c.algorithm = Algorithm::Sha512_256Sess;
    c.qop = vec![Qop::Auth, Qop::AuthInt];
    assert_eq!(
        c.to_string(),
        concat!(
            r#"Digest realm="pbx.example", nonce="abc", algorithm=SHA-512-256-sess, "#,
            r#"qop="auth,auth-int", opaque="xyz", stale=true"#
        )
    );
}

#[test]
fn challenges_round_trip() {
    for alg in Algorithm::ALL {
        for qop in [vec![], vec![Qop::Auth], vec![Qop::AuthInt, Qop::Auth]] {
            for (opaque, stale) in [(None, false), (Some("o\"p\\q"), true)] {
                let c = Challenge {
                    realm: "réalm \"x\"".into(),
                    nonce: "n/+=".into(),
                    opaque: opaque.map(str::to_owned),
                    algorithm: alg,
                    qop: qop.clone(),
                    stale,
                };
                let text = c.to_string();
                assert_eq!(Challenge::parse(&text).as_ref(), Ok(&c), "{text}");
            }
        }
    }
}

#[test]
fn credentials_round_trip() {
    for alg in Algorithm::ALL {
        let c = sample_credentials(alg);
        assert_eq!(c.nc, Some(0x1f));
        let text = c.to_string();
        assert!(text.contains("nc=0000001f"), "{text}");
        assert!(
            text.contains("qop=auth,") || text.contains("qop=auth "),
            "{text}"
        );
        let parsed = Credentials::parse(&text).expect("own output parses");
        assert_eq!(parsed, c);
        assert!(parsed.verify("REGISTER", &ha1(alg, "alice", "pbx.example", "secret")));
    }
}

#[test]
fn credentials_display_writes_tokens_unquoted() {
    let c = sample_credentials(Algorithm::Md5);
    let text = c.to_string();
    assert!(text.starts_with("Digest username=\"alice\", realm=\"pbx.example\""));
    assert!(text.contains(", algorithm=MD5"));
    assert!(text.contains(", qop=auth"));
    assert!(!text.contains("qop=\""));
    assert!(!text.contains("nc=\""));
}

#[test]
fn rfc2069_challenge_gets_rfc2069_credentials() {
    let challenge = Challenge {
        qop: vec![],
        ..Challenge::new("r", "n", Algorithm::Md5)
    };
    let stored = ha1(Algorithm::Md5, "u", "r", "p");
    let c = Credentials::answer(&challenge, "u", &stored, "INVITE", "sip:x", "cn", 1)
        .expect("no qop is fine");
    assert_eq!((c.qop, c.nc, c.cnonce.as_deref()), (None, None, None));
    let parsed = Credentials::parse(&c.to_string()).expect("parses");
    assert_eq!(parsed, c);
    assert!(parsed.verify("INVITE", &stored));

    let only_int = Challenge {
        qop: vec![Qop::AuthInt],
        ..Challenge::new("r", "n", Algorithm::Md5)
    };
    assert_eq!(
        Credentials::answer(&only_int, "u", &stored, "INVITE", "sip:x", "cn", 1),
        Err(DigestError::UnsupportedQop { qop: Qop::AuthInt })
    );
}

#[test]
fn grammar_variations_phones_send() {
    let stored = ha1(Algorithm::Md5, "bob", "biloxi.com", "zanzibar");
    let good = sample_like(&stored);
    let variants = [
        // Scheme and names in any case, LWS around '=' and ',', tabs.
        good.replace("Digest ", "DIGEST\t")
            .replace("username=", "UserName = ")
            .replace(", realm", " ,\trealm"),
        // qop and nc quoted, algorithm quoted and lowercase.
        good.replace("qop=auth", "qop=\"auth\"")
            .replace("nc=00000001", "nc=\"00000001\"")
            .replace("algorithm=MD5", "algorithm=\"md5\""),
        // Unknown parameters, an empty list element, a trailing comma.
        good.replace(", uri=", ", x-vendor=\"1\", , foo=bar, uri=") + ",",
        // Response in uppercase hex.
        good.replace(
            &response_of(&good),
            &response_of(&good).to_ascii_uppercase(),
        ),
        // No algorithm at all: MD5.
        good.replace(", algorithm=MD5", ""),
    ];
    for v in variants {
        let c = Credentials::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(c.username, "bob");
        assert!(c.verify("REGISTER", &stored), "{v}");
    }
}

/// Credentials as a phone would send them for bob at biloxi.com.
fn sample_like(stored: &str) -> String {
    let challenge = Challenge::new(
        "biloxi.com",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Algorithm::Md5,
    );
    Credentials::answer(
        &challenge,
        "bob",
        stored,
        "REGISTER",
        "sip:biloxi.com",
        "0a4f113b",
        1,
    )
    .expect("answer")
    .to_string()
}

fn response_of(text: &str) -> String {
    Credentials::parse(text).expect("parses").response
}

#[test]
fn username_star_is_decoded() {
    let stored = ha1(
        Algorithm::Sha256,
        "Jäsøn Doe",
        "api@example.org",
        "Secret, or not?",
    );
    let c = Credentials::answer(
        &Challenge::new("api@example.org", "n", Algorithm::Sha256),
        "Jäsøn Doe",
        &stored,
        "GET",
        "/doe.json",
        "c",
        1,
    )
    .expect("answer");
    let text = c.to_string().replace(
        "username=\"Jäsøn Doe\"",
        "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe",
    );
    let parsed = Credentials::parse(&text).expect("username* parses");
    assert_eq!(parsed.username, "Jäsøn Doe");
    assert!(parsed.verify("GET", &stored));
    // Both forms at once: refused.
    let both = text.replace("realm=", "username=\"x\", realm=");
    assert_eq!(
        Credentials::parse(&both),
        Err(DigestError::Invalid { name: "username*" })
    );
}

fn base() -> String {
    sample_like(&ha1(Algorithm::Md5, "bob", "biloxi.com", "zanzibar"))
}

#[test]
fn malformed_credentials_are_refused() {
    let good = base();
    let long = "a".repeat(MAX_VALUE_LEN + 1);
    let many: String = (0..=MAX_PARAMS).map(|i| format!(", x{i}=1")).collect();
    let cases: Vec<(String, DigestError)> = vec![
        (
            "NoOneKnowsThisScheme opaque-data=here".into(),
            DigestError::UnsupportedScheme {
                scheme: "NoOneKnowsThisScheme".into(),
            },
        ),
        (
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".into(),
            DigestError::UnsupportedScheme {
                scheme: "Basic".into(),
            },
        ),
        ("".into(), DigestError::Syntax { offset: 0 }),
        ("   ".into(), DigestError::Syntax { offset: 3 }),
        (
            "Digest username=\"bob".into(),
            DigestError::Syntax { offset: 16 },
        ),
        // An unterminated quoted-string: the error points at its opening quote.
        (
            good.clone() + ", x=\"open",
            DigestError::Syntax {
                offset: good.len() + 4,
            },
        ),
        ("Digest username".into(), DigestError::Syntax { offset: 15 }),
        (
            "Digest username=".into(),
            DigestError::Syntax { offset: 16 },
        ),
        (
            "Digest username=\"a\" realm=\"b\"".into(),
            DigestError::Syntax { offset: 20 },
        ),
        ("Digest =x".into(), DigestError::Syntax { offset: 7 }),
        ("Digest a=b=c".into(), DigestError::Syntax { offset: 10 }),
        (
            good.replace(", response=\"", ", x=\""),
            DigestError::Missing { name: "response" },
        ),
        (
            good.replace("username=\"bob\", ", ""),
            DigestError::Missing { name: "username" },
        ),
        (
            good.replace(", cnonce=\"0a4f113b\"", ""),
            DigestError::Missing { name: "cnonce" },
        ),
        (
            good.replace(", nc=00000001", ""),
            DigestError::Missing { name: "nc" },
        ),
        (
            good.replace("nc=00000001", "nc=1"),
            DigestError::Invalid { name: "nc" },
        ),
        (
            good.replace("nc=00000001", "nc=000000001"),
            DigestError::Invalid { name: "nc" },
        ),
        (
            good.replace("nc=00000001", "nc=0000000g"),
            DigestError::Invalid { name: "nc" },
        ),
        (
            good.replace("nc=00000001", "nc=99999999999999999999999999"),
            DigestError::Invalid { name: "nc" },
        ),
        (
            good.replace("qop=auth", "qop=auth-conf"),
            DigestError::Invalid { name: "qop" },
        ),
        (
            good.replace("algorithm=MD5", "algorithm=SHA-256"),
            DigestError::Invalid { name: "response" },
        ),
        (
            good.replace("algorithm=MD5", "algorithm=AKAv1-MD5"),
            DigestError::UnknownAlgorithm {
                algorithm: "AKAv1-MD5".into(),
            },
        ),
        (
            good.replace("realm=", "REALM=\"x\", realm="),
            DigestError::Duplicate {
                name: "realm".into(),
            },
        ),
        (
            good.clone() + ", foo=1, FOO=2",
            DigestError::Duplicate { name: "foo".into() },
        ),
        (
            good.replace("uri=\"sip:biloxi.com\"", &format!("uri=\"{long}\"")),
            DigestError::TooLong { name: "uri".into() },
        ),
        (good.clone() + &many, DigestError::TooManyParams),
    ];
    for (value, want) in cases {
        let got = Credentials::parse(&value);
        assert_eq!(got.as_ref(), Err(&want), "{value:?}");
    }
}

#[test]
fn malformed_challenges_are_refused() {
    let cases: Vec<(&str, DigestError)> = vec![
        (
            "Basic realm=\"x\"",
            DigestError::UnsupportedScheme {
                scheme: "Basic".into(),
            },
        ),
        ("Digest nonce=\"n\"", DigestError::Missing { name: "realm" }),
        ("Digest realm=\"r\"", DigestError::Missing { name: "nonce" }),
        (
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-1",
            DigestError::UnknownAlgorithm {
                algorithm: "SHA-1".into(),
            },
        ),
        (
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth-conf\"",
            DigestError::Invalid { name: "qop" },
        ),
        (
            "Digest realm=\"r\", nonce=\"n\", nonce=\"m\"",
            DigestError::Duplicate {
                name: "nonce".into(),
            },
        ),
        // The quote closes after `nonce=`; the `n` that follows is where the list breaks.
        (
            "Digest realm=\"r, nonce=\"n\"",
            DigestError::Syntax { offset: 24 },
        ),
    ];
    for (value, want) in cases {
        assert_eq!(Challenge::parse(value).as_ref(), Err(&want), "{value:?}");
    }
    // Unknown qop options next to auth are left out; stale is true only when it says so.
    let c = Challenge::parse("Digest realm=r, nonce=n, qop=\"auth-conf, auth\", stale=TRUE")
        .expect("parses");
    assert_eq!(c.qop, vec![Qop::Auth]);
    assert!(c.stale);
    let c = Challenge::parse("Digest realm=r, nonce=n, stale=yes").expect("parses");
    assert!(!c.stale);
}

#[test]
fn errors_map_to_answers() {
    assert_eq!(
        DigestError::Missing { name: "response" }.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        DigestError::UnknownAlgorithm {
            algorithm: "x".into()
        }
        .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn errors_hold_bounded_peer_text() {
    let scheme = "X".repeat(10_000);
    match Credentials::parse(&format!("{scheme} a=b")) {
        Err(DigestError::UnsupportedScheme { scheme }) => assert_eq!(scheme.len(), 64),
        other => panic!("{other:?}"),
    }
}

/// Deterministic garbage around a valid value: every prefix, every byte replaced by a
/// troublesome one. Parsers return; nothing panics.
#[test]
fn no_panics_on_mutations() {
    let good = base();
    let challenge = Challenge::new("r", "n", Algorithm::Sha256).to_string();
    let bytes: &[u8] = b"\"\\,= \t\x00\x7f\xc3\xa9%'";
    for text in [good.as_str(), challenge.as_str()] {
        let result = panic::catch_unwind(|| {
            for end in 0..=text.len() {
                if let Some(prefix) = text.get(..end) {
                    let _ = Credentials::parse(prefix);
                    let _ = Challenge::parse(prefix);
                }
            }
            for i in 0..text.len() {
                for &b in bytes {
                    let mut v = text.as_bytes().to_vec();
                    if let Some(slot) = v.get_mut(i) {
                        *slot = b;
                    }
                    if let Ok(s) = String::from_utf8(v) {
                        let _ = Credentials::parse(&s);
                        let _ = Challenge::parse(&s);
                    }
                }
            }
        });
        assert!(result.is_ok(), "panic on a mutation of {text}");
    }
}
