//! The hook against a Zenoss test server on 127.0.0.1 that answers as Zenoss 4.2 and 6.x
//! do: request shapes, every failure kind ending as pending work, fetch by evid.
use crate::common::zenoss::{Fault, Version, ZEvent, Zenoss};
use crate::common::*;
use std::time::Duration;

fn ack_test(z: &Zenoss, evid: &str) -> Output {
    z.add(ZEvent::new(evid));
    Test::new().zenoss(z).event(evid, 1).args(["--json"]).run()
}

#[test]
fn a_ticket_is_acknowledged_with_the_exact_request() {
    for version in [Version::V42, Version::V6] {
        let z = Zenoss::start(version);
        let out = ack_test(&z, "ack-1");
        out.status(0);
        let j = out.json();
        assert_eq!(j["decision"], "ticket");
        assert_eq!(j["ack"], "done");
        let calls = z.calls();
        assert_eq!(
            calls.len(),
            2,
            "the acknowledgement, then the ticket's note: {calls:?}"
        );
        let c = &calls[0];
        assert_eq!(c.path, "/zport/dmd/evconsole_router");
        assert_eq!(c.header("content-type"), Some("application/json"));
        assert_eq!(c.header("authorization"), Some("Basic YWRtaW46emVub3Nz"));
        assert_eq!(c.body["action"], "EventsRouter");
        assert_eq!(c.body["method"], "acknowledge");
        assert_eq!(c.body["type"], "rpc");
        assert!(c.body["tid"].is_u64());
        assert_eq!(
            c.data,
            serde_json::json!({"evids": ["ack-1"]}),
            "no timeout, no params"
        );
        // The ticket on the event as details: the console's Ticket column.
        assert_eq!(calls[1].body["method"], "updateDetails");
        assert_eq!(
            calls[1].data,
            serde_json::json!({"evid": "ack-1", "zenticket.ticket": "1001",
                "zenticket.system": "script", "zenticket.url": ""})
        );
        assert_eq!(
            calls.len(),
            2,
            "no note: the details say it (ticketnote: off)"
        );
        assert_eq!(
            z.event("ack-1").unwrap().details["zenticket.ticket"],
            "1001"
        );
        assert_eq!(z.event("ack-1").unwrap().state, 1, "acknowledged in Zenoss");
        assert!(out.state()[0]["pending"].as_array().unwrap().is_empty());
        out.stdout_has("\"ack\":\"done\"");
        assert_eq!(z.danger(), 0);
    }
}

#[test]
fn an_acknowledged_event_whose_count_rose_is_ticketed_but_not_acknowledged_again() {
    let z = Zenoss::start(Version::V6);
    let out = ack_test(&z, "ack-2");
    out.status(0);
    let again = out
        .again()
        .event("ack-2", 2)
        .args(["--event-state", "1"])
        .run();
    again.status(0).decision("ticket");
    assert_eq!(
        z.methods(),
        ["acknowledge", "updateDetails", "updateDetails"],
        "the details of each ticket, one acknowledgement"
    );
    assert_eq!(
        z.event("ack-2").unwrap().details["zenticket.ticket"],
        "1002"
    );
}

#[test]
fn noise_is_moved_to_history() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("noise-1"));
    let out = Test::new()
        .zenoss(&z)
        .event("noise-1", 1)
        .args(["--severity", "2"])
        .run();
    out.status(0)
        .stdout("filtered-closed for evid noise-1: new event; fails minseverity (severity 2 is below 3); moved to history\n");
    assert_eq!(z.methods(), ["close"]);
    assert_eq!(z.calls()[0].data, serde_json::json!({"evids": ["noise-1"]}));
    assert_eq!(z.event("noise-1").unwrap().state, 3);
}

#[test]
fn autoclear_closes_an_old_event_whatever_else_was_decided() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("old-1"));
    let conf = LAB_CONFIG.replace("cycletime: 30\n", "cycletime: 30\nautocleartime: 3600\n");
    let out = Test::new()
        .config(&conf)
        .zenoss(&z)
        .event("old-1", 1)
        .args(["--json"])
        .run();
    out.status(0);
    let j = out.json();
    assert_eq!(j["decision"], "ticket");
    assert_eq!(j["autoclear"], true);
    assert_eq!(j["close"], "done");
    assert_eq!(z.methods(), ["acknowledge", "close", "updateDetails"]);
}

#[test]
fn every_failure_kind_is_told_apart_and_left_pending() {
    let cases: Vec<(Fault, &str)> = vec![
        (
            Fault::Status503,
            "Zenoss answered HTTP 503: Service Unavailable",
        ),
        (Fault::Html500, "Zenoss answered HTTP 500: Zope Site Error"),
        (Fault::LoginRedirect, "Zenoss refused the login"),
        (Fault::NotJson, "not JSON: upstream connect error"),
        (
            Fault::Exception("Unauthorized: You are not allowed".into()),
            "Zenoss raised an exception: Unauthorized: You are not allowed",
        ),
        (
            Fault::SuccessFalse,
            "success: false: Connection refused. Check zeneventserver",
        ),
        (Fault::NullResult, "null result"),
        (
            Fault::Hang(Duration::from_secs(4)),
            "did not answer in time",
        ),
        (Fault::Drop, "cannot connect to Zenoss"),
        (
            Fault::Trickle(Duration::from_millis(100)),
            "Zenoss did not answer in time: reading the reply",
        ),
    ];
    for (fault, words) in cases {
        let z = Zenoss::start(Version::V6);
        z.fail_next(std::slice::from_ref(&fault));
        let out = ack_test(&z, "fk-1");
        out.status(1);
        let j = out.json();
        assert_eq!(j["decision"], "ticket", "{fault:?}");
        assert_eq!(j["ack"], "pending", "{fault:?}");
        out.log_has(words).log_has("acknowledge failed");
        let pending = &out.state()[0]["pending"][0];
        assert_eq!(pending["what"], "acknowledge");
        assert_eq!(pending["attempts"], 1);
        assert!(
            pending["last_error"].as_str().unwrap().contains(words),
            "{fault:?}: {pending}"
        );
        // The ticket is never made twice: a repeat of the call is unchanged.
        out.again()
            .zenoss(&z)
            .event("fk-1", 1)
            .run()
            .status(0)
            .decision("unchanged");
        assert_eq!(out.calls().len(), 1);
        assert!(!out.log().contains("zenoss\n"), "no secret in the log");
        assert!(!out.log().contains("YWRtaW46emVub3Nz"));
    }
}

#[test]
fn connection_refused_and_tls_errors_are_named() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = format!(
        "{LAB_CONFIG}\n[ZENOSS]\nurl: http://127.0.0.1:{port}\nuser: admin\npassword: zenoss\n"
    );
    let out = Test::new().config(&conf).event("cr-1", 1).run();
    out.status(1)
        .stdout("ticket 1001 for evid cr-1 (customer nnl-00000, queue Front Line); acknowledge pending\n")
        .logged(&[
            &format!("ERROR zen.zenticket: evid cr-1: acknowledge failed: cannot connect to Zenoss: \
                      http://127.0.0.1:{port}/zport/dmd/evconsole_router: Connection Failed: Connect error: \
                      Connection refused (os error 111); kept pending for `zenticket-hook sweep`"),
            "WARNING zen.zenticket: ticket 1001 for evid cr-1 (customer nnl-00000, queue Front Line); acknowledge pending",
        ]);
    // https to a plain HTTP server: the handshake fails.
    let z = Zenoss::start(Version::V6);
    let conf = format!(
        "{LAB_CONFIG}\n[ZENOSS]\nurl: {}\nuser: admin\npassword: zenoss\n",
        z.url.replace("http://", "https://")
    );
    let out = Test::new().config(&conf).event("tls-1", 1).run();
    out.status(1)
        .stdout("ticket 1001 for evid tls-1 (customer nnl-00000, queue Front Line); acknowledge pending\n")
        .logged(&[
            &format!("ERROR zen.zenticket: evid tls-1: acknowledge failed: TLS error talking to Zenoss: \
                      {}/zport/dmd/evconsole_router: Connection Failed: tls connection init failed: \
                      unexpected end of file (see [ZENOSS] verifytls and cafile); kept pending for \
                      `zenticket-hook sweep`", z.url.replace("http://", "https://")),
            "WARNING zen.zenticket: ticket 1001 for evid tls-1 (customer nnl-00000, queue Front Line); acknowledge pending",
        ]);
}

#[test]
fn the_api_key_replaces_basic_auth() {
    let z = Zenoss::start(Version::V6);
    z.use_apikey("k3y-SECRET");
    let out = ack_test(&z, "key-1");
    out.status(0);
    let c = &z.calls()[0];
    assert_eq!(c.header("z-api-key"), Some("k3y-SECRET"));
    assert_eq!(c.header("authorization"), None);
    assert!(!out.log().contains("k3y-SECRET") && !out.stdout.contains("k3y-SECRET"));
}

fn fetched_vs_given(version: Version) {
    let z = Zenoss::start(version);
    let mut ev = ZEvent::new("0242ac11-0008-8a4b-11ee-5f1e2d7c9a10");
    ev.count = 3;
    ev.groups = vec!["/Network".into(), "/Lab".into()];
    z.add(ev.clone());
    // As the ZenPack's notification calls it: evid and Zenoss-generated numbers only.
    let fetched = Test::new()
        .zenoss(&z)
        .bare(&ev.evid, 3, 0)
        .args(["--severity", "4", "--json"])
        .run();
    fetched.status(0);
    assert_eq!(z.methods(), ["detail", "acknowledge", "updateDetails"]);
    assert_eq!(z.calls()[0].data, serde_json::json!({"evid": ev.evid}));
    // The same event given as options, as a notification with text would render it.
    let given = Test::new()
        .bare(&ev.evid, 3, 0)
        .args(["--severity", "4"])
        .args([
            "--prod-state",
            "1000",
            "--device",
            "router1",
            "--ip-address",
            "10.0.0.1",
            "--component",
            "eth0",
        ])
        .args([
            "--summary",
            "Interface eth0 down",
            "--message",
            "ifOperStatus=2",
            "--event-class",
            "/Net/Link",
        ])
        .args([
            "--device-class",
            "/Network/Router",
            "--device-groups",
            "|/Network|/Lab",
            "--device-priority",
            "3",
        ])
        .args([
            "--first-time",
            "1700000000",
            "--last-time",
            "1700000600",
            "--json",
        ])
        .run();
    given.status(0);
    assert_eq!(fetched.json()["decision"], given.json()["decision"]);
    assert_eq!(fetched.calls(), given.calls(), "{version:?}: same argv");
    assert_eq!(fetched.json()["argv"].as_array().unwrap().len(), 31);
}

#[test]
fn a_fetched_event_gives_the_same_argv_as_options_zenoss_6() {
    fetched_vs_given(Version::V6);
}

#[test]
fn a_fetched_event_gives_the_same_argv_as_options_zenoss_42() {
    fetched_vs_given(Version::V42);
}

#[test]
fn an_unknown_evid_is_exit_2_and_unreachable_is_exit_1() {
    let z = Zenoss::start(Version::V6);
    let out = Test::new().zenoss(&z).bare("nope", 1, 0).run();
    out.status(2)
        .stdout("")
        .stderr("zenticket-hook: Zenoss does not know evid nope\n");
    z.fail_next(&[Fault::Status503]);
    z.add(ZEvent::new("later-1"));
    let out = Test::new().zenoss(&z).bare("later-1", 1, 0).run();
    out.status(1).stdout("").stderr("zenticket-hook: evid later-1: cannot fetch the event: Zenoss answered HTTP 503: Service Unavailable; recorded for `zenticket-hook sweep`\n");
    assert_eq!(out.state()[0]["pending"][0]["what"], "ticket");
}

#[test]
fn dry_run_fetches_but_changes_nothing() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("dry-z"));
    let out = Test::new()
        .zenoss(&z)
        .args(["--dry-run", "--evid", "dry-z", "--json"])
        .run();
    // No count on the line: it comes from Zenoss too.
    out.status(0);
    let j = out.json();
    assert_eq!(j["decision"], "ticket");
    assert_eq!(j["ack"], "skipped");
    assert_eq!(j["argv"][4], "router1");
    assert_eq!(z.methods(), ["detail"]);
    assert!(out.calls().is_empty());
    assert!(
        !out.dir.join("var/zenticket.db").exists() || out.state().as_array().unwrap().is_empty()
    );
}

#[test]
fn a_passwordfile_others_can_read_is_refused() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("pf-1"));
    let t = Test::new();
    let pf = t.path().join("zenoss.password");
    std::fs::write(&pf, "zenoss\n").unwrap();
    let conf = format!(
        "{LAB_CONFIG}\n[ZENOSS]\nurl: {}\nuser: admin\npasswordfile: {}\n",
        z.url,
        pf.display()
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = t.clone().config(&conf).event("pf-1", 1).run();
    out.status(2).stdout("").stderr("zenticket-hook: {dir}/etc/zenticket.conf:21: [ZENOSS] passwordfile: {dir}/zenoss.password \
         can be read or written by group or others (mode 644); run `chmod 600 {dir}/zenoss.password`; \
         evid pf-1 recorded in {dir}/var/zenticket.db as pending for `sweep`\n");
    std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The refused call still recorded pf-1 for sweep; a new event goes through.
    assert_eq!(out.state()[0]["pending"][0]["what"], "ticket");
    z.add(ZEvent::new("pf-2"));
    let out = t.again().config(&conf).event("pf-2", 1).run();
    out.status(0)
        .stdout("ticket 1001 for evid pf-2 (customer nnl-00000, queue Front Line); acknowledged\n");
    assert_eq!(
        z.calls()[0].header("authorization"),
        Some("Basic YWRtaW46emVub3Nz")
    );
}

/// A Zenoss that answers every call late, but within `[ZENOSS] timeout` (a WAN, a busy
/// Zope): nothing is taken for a failure.
#[test]
fn a_zenoss_answering_late_within_the_timeout_is_not_a_failure() {
    let z = Zenoss::start(Version::V6);
    z.latency(Duration::from_millis(300));
    let out = ack_test(&z, "late-1");
    out.status(0);
    assert_eq!(out.json()["ack"], "done");
    assert_eq!(z.methods(), ["acknowledge", "updateDetails"]);
    assert_eq!(z.event("late-1").unwrap().details.len(), 3);
}

#[test]
fn the_tickets_details_are_kept_through_a_clear_and_never_replaced_by_an_older_ticket() {
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("det-1"));
    let t = Test::new().general("retrydelay: 0").zenoss(&z);
    t.clone().event("det-1", 1).run().status(0);
    // Zenoss fails the details of count 2 (a 503): owed for sweep, the hook done.
    z.fail_next(&[Fault::Status503]);
    t.again()
        .event("det-1", 2)
        .args(["--event-state", "1"])
        .run()
        .status(0);
    let owed: Vec<String> = t.again().args(["state", "--json"]).run().json()[0]["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p["what"].as_str().unwrap(), p["count"]))
        .collect();
    assert_eq!(owed, ["detail 2"]);
    // Count 3 is ticketed with Zenoss up: its details are set, and the older owed one is
    // dropped, never sent after it.
    t.again()
        .event("det-1", 3)
        .args(["--event-state", "1"])
        .run()
        .status(0);
    sweep(&t);
    assert_eq!(
        z.event("det-1").unwrap().details["zenticket.ticket"],
        "1003"
    );
    let sent: Vec<String> = z
        .calls()
        .iter()
        .filter(|c| c.method == "updateDetails")
        .map(|c| c.data["zenticket.ticket"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sent,
        ["1001", "1002", "1003"],
        "1002 met the 503, and was never sent again"
    );
    // A clear keeps them.
    t.again()
        .event("det-1", 3)
        .args(["--clear"])
        .run()
        .status(0);
    assert_eq!(
        z.event("det-1").unwrap().details["zenticket.ticket"],
        "1003"
    );
}

#[test]
fn a_zenoss_without_update_details_is_asked_once_and_gets_the_note_instead() {
    let z = Zenoss::start(Version::V42);
    z.without_update_details();
    z.add(ZEvent::new("old-z-1")).add(ZEvent::new("old-z-2"));
    let t = Test::new().zenoss(&z);
    t.clone().event("old-z-1", 1).run().status(0);
    t.again().event("old-z-2", 1).run().status(0);
    assert_eq!(
        z.methods(),
        [
            "acknowledge",
            "updateDetails",
            "write_log",
            "acknowledge",
            "write_log"
        ]
    );
    assert_eq!(
        z.event("old-z-1").unwrap().notes,
        ["zenticket: ticket 1001 (script)"]
    );
    let log = t.again().args(["state"]).run().log();
    assert_eq!(
        log.matches("this Zenoss has no updateDetails").count(),
        1,
        "said once: {log}"
    );
    assert!(
        t.again().args(["state", "--json"]).run().json()[0]["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
