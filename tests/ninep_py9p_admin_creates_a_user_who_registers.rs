//! The 9P tree and the HTTP API are two views of one directory: an account admin,
//! authenticated over TCP with py9p (an independent client), creates an extension with
//! `mkdir` and sets its secret by writing `credential`; the HTTP API lists it at once, and the
//! extension registers over SIP with that secret (an independent digest client). `remove`
//! deletes it again. The operator, on the Unix socket without auth, creates a domain.

mod common;

use std::process::Command;

use common::Json;

fn register(server: &common::Server, user: &str, password: &str) -> String {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/digest_client.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["--server", &server.sip.to_string(), "--domain", "127.0.0.1"])
        .args(["--user", user, "--password", password])
        .output()
        .expect("run digest_client.py");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn admin_mkdirs_an_extension_that_then_registers() {
    if !common::py9p() {
        return;
    }
    let config = common::config_with_users("127.0.0.1", 1, "");
    let server = common::Server::start_with_config(&config, &[]);
    let (status, body) = common::http(
        server.http,
        "PUT",
        "/dir/127.0.0.1",
        Some(r#"{"admin": {"secret": "adminpw"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let addr = common::ninep_tcp(server.ninep);
    let admin = Some(("admin@127.0.0.1", "adminpw"));

    let out = common::ninep_py(
        &addr,
        admin,
        &[
            "mkdir",
            "/carol",
            "write",
            "/carol/credential",
            "carolpw\n",
            "mkdir",
            "/carol",
            "ls",
            "/",
        ],
    );
    assert!(out[0].get("ok").is_some_and(Json::is_true), "{out:?}");
    assert!(
        out[1].get("ok").is_some_and(Json::is_true),
        "mkdir: {out:?}"
    );
    assert!(
        out[2].get("ok").is_some_and(Json::is_true),
        "credential: {out:?}"
    );
    assert_eq!(
        out[3].get("error").and_then(Json::as_str).as_deref(),
        Some("file already exists"),
        "{out:?}"
    );
    let names = out[4].entry_names();
    assert!(
        names.contains(&"carol".to_owned()) && names.contains(&"user0".to_owned()),
        "{out:?}"
    );

    // The HTTP API sees the new user at once.
    let (status, body) = common::http(server.http, "GET", "/dir/127.0.0.1", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""carol""#), "{body}");

    // The secret written through 9P is the one SIP checks: the right one registers, a wrong
    // one does not.
    let ok = register(&server, "carol", "carolpw");
    assert!(ok.contains(r#""status": 200"#), "{ok}");
    let wrong = register(&server, "carol", "nope");
    assert!(!wrong.contains(r#""status": 200"#), "{wrong}");

    // The extension itself can log in with it, and sees only its own directory.
    let out = common::ninep_py(&addr, Some(("carol@127.0.0.1", "carolpw")), &["ls", "/"]);
    assert!(
        out[1].entry_names().contains(&"credential".to_owned()),
        "{out:?}"
    );

    // An extension cannot make extensions; the admin removes one.
    let out = common::ninep_py(
        &addr,
        Some(("carol@127.0.0.1", "carolpw")),
        &["mkdir", "/x"],
    );
    assert_eq!(out[1].get("ok"), Some(&Json::Bool(false)), "{out:?}");
    let out = common::ninep_py(&addr, admin, &["rm", "/carol", "ls", "/"]);
    assert!(out[1].get("ok").is_some_and(Json::is_true), "{out:?}");
    assert!(
        !out[2].entry_names().contains(&"carol".to_owned()),
        "{out:?}"
    );
    let (_, body) = common::http(server.http, "GET", "/dir/127.0.0.1", None);
    assert!(!body.contains(r#""carol""#), "{body}");

    // The operator, on the Unix socket with no auth, creates a domain.
    let unix = format!("unix!{}", server.ninep_unix.display());
    let out = common::ninep_py(&unix, None, &["mkdir", "/new.example", "ls", "/"]);
    assert!(out[1].get("ok").is_some_and(Json::is_true), "{out:?}");
    let mut domains = out[2].entry_names();
    domains.sort();
    assert_eq!(domains, ["127.0.0.1", "new.example"], "{out:?}");
    let (status, body) = common::http(server.http, "GET", "/dir/new.example", None);
    assert_eq!(status, 200, "{body}");
}
