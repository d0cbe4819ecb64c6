//! baresip (Debian's real softphone) registers to `switchboard serve`: it shows up in
//! `GET /reg/{domain}/{user}` with its User-Agent, the domain's control server gets
//! `PUT /reg/{domain}/{user}` with host, port and agent, and when baresip stops (it
//! unregisters) the control server gets `DELETE /reg/{domain}/{user}`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn baresip_registers_and_the_webhooks_fire() {
    let Some(baresip) = common::peer("baresip") else {
        return;
    };
    let control = common::ControlServer::start();
    let config = format!(
        "[[domain]]\nname = \"127.0.0.1\"\ncontrol = \"http://{}\"\n\
         users = [{{ username = \"alice\", secret = \"alicepw\" }}]\n",
        control.addr
    );
    let server = common::Server::start_with_config(&config, &[]);

    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_udp_port();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\nnet_interface 127.0.0.1\n\
             audio_player alsa,null\naudio_source alsa,null\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule_app account.so\nmodule_app menu.so\n"
        ),
    )
    .expect("config");
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:alice@{};transport=udp>;auth_pass=alicepw;regint=300\n",
            server.sip
        ),
    )
    .expect("accounts");
    std::fs::write(dir.path().join("contacts"), "").expect("contacts");
    // `--foreground`: otherwise timeout passes our SIGINT on twice (to the child and to its
    // group), and baresip's second SIGINT exits at once, before it has unregistered.
    let mut phone = Command::new("timeout")
        .args(["--foreground", "60", baresip.to_str().expect("path"), "-f"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start baresip");

    // Registered, with its agent string.
    let end = Instant::now() + Duration::from_secs(20);
    let mut view = String::new();
    while Instant::now() < end {
        let (status, body) = common::http(server.http, "GET", "/reg/127.0.0.1/alice", None);
        view = body;
        if status == 200 && view.contains(r#""registered":true"#) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(view.contains(r#""registered":true"#), "{view}");
    assert!(view.contains("baresip"), "agent missing: {view}");
    assert!(view.contains(&format!(r#""port":{port}"#)), "{view}");

    let (line, body) = control
        .wait_for("PUT /reg/127.0.0.1/alice ", Duration::from_secs(10))
        .expect("registration webhook");
    assert!(line.contains("HTTP/1.1"), "{line}");
    assert!(
        body.contains(r#""host":"127.0.0.1""#) && body.contains("baresip"),
        "{body}"
    );

    // Stopping baresip unregisters it: the DELETE webhook fires.
    let _ = Command::new("kill")
        .args(["-INT", &phone.id().to_string()])
        .status();
    let deleted = control.wait_for("DELETE /reg/127.0.0.1/alice ", Duration::from_secs(20));
    let _ = phone.kill();
    let _ = phone.wait();
    assert!(
        deleted.is_some(),
        "no DELETE webhook; control saw {:?}",
        control.seen()
    );
    let (_, after) = common::http(server.http, "GET", "/reg/127.0.0.1/alice", None);
    assert!(after.contains(r#""registered":false"#), "{after}");
}
