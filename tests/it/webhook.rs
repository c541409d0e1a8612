//! Any webhook through the built-in adapter: `Idempotency-Key: "..."` with the same key
//! and the byte-identical body on every retry, so a receiver that deduplicates makes one
//! ticket through a lost answer; 409 waits; 422 (the key reused with another body) gives
//! up with the reason; a clear posts `{"event":"clear"}` with its own key.
use crate::common::webhook::{Fault, Webhook, TOKEN};
use crate::common::*;

fn hook(w: &Webhook) -> Test {
    Test::new()
        .general("ticketsystem: webhook")
        .general("retrydelay: 0")
        .section(&w.section())
}

#[test]
fn a_ticket_is_posted_with_a_quoted_idempotency_key_and_read_from_ticketfield() {
    let w = Webhook::start();
    let t = hook(&w);
    let out = t.clone().event("wh-1", 1).args(["--json"]).run();
    out.status(0);
    assert_eq!(out.json()["ticket"], "T-1001");
    let r = &w.requests()[0];
    assert_eq!(r.route(), "/hooks/zenoss");
    let key = key_of(&t, "wh-1", 1);
    assert_eq!(
        r.header("idempotency-key"),
        Some(format!("\"{key}\"").as_str())
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body = r.json();
    assert_eq!(body["evid"], "wh-1");
    assert_eq!(body["key"], key.as_str());
    assert_eq!(body["summary"], "Interface Gi0/1 down");
    assert_eq!(body["customer"], "nnl-00000");
    assert_eq!(body["severityname"], "Error");
}

#[test]
fn a_lost_answer_is_retried_with_the_same_key_and_the_byte_identical_body() {
    let w = Webhook::start();
    w.fail_next(&[Fault::DropAfterCreate]);
    let t = hook(&w);
    t.clone()
        .event("wh-lost", 1)
        .run()
        .status(1)
        .decision("ticket-failed");
    assert_eq!(sweep(&t)["succeeded"], 1);
    let posts = w.requests();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body, posts[1].body, "byte for byte");
    assert_eq!(
        posts[0].header("idempotency-key"),
        posts[1].header("idempotency-key")
    );
    assert_eq!(w.tickets().len(), 1, "one ticket");
    let st = t.again().args(["--json", "state"]).run().json();
    assert_eq!(st[0]["tickets"], serde_json::json!(["T-1001"]));
}

#[test]
fn in_progress_waits_and_a_key_reused_with_another_body_is_given_up() {
    let w = Webhook::start();
    w.fail_next(&[Fault::InProgress]);
    let t = hook(&w);
    let out = t.clone().event("wh-409", 1).run();
    out.status(0).decision("ticket-deferred");
    out.stdout_has("webhook answered 409 (still in progress)");
    assert_eq!(sweep(&t)["succeeded"], 1);
    // The answer to a first post is lost; then the body changes under the same key (the
    // customer's body edited meanwhile): the receiver refuses, and so is the work.
    w.fail_next(&[Fault::DropAfterCreate]);
    t.clone().event("wh-422", 1).run().status(1);
    let edited = t
        .clone()
        .config(&format!("{}body: {{\"note\": \"edited\"}}\n", LAB_CONFIG))
        .general("ticketsystem: webhook")
        .general("retrydelay: 0")
        .section(&w.section());
    let s = sweep(&edited);
    assert_eq!(s["given_up"], 1, "{s}");
    let given = edited
        .again()
        .args(["--json", "state", "--given-up"])
        .run()
        .json();
    assert!(
        given[0]["given_up"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(
            "webhook refused the request (422): Idempotency-Key reused with a different payload"
        ),
        "{given}"
    );
}

#[test]
fn a_clear_posts_the_clear_event_with_its_own_key() {
    let w = Webhook::start();
    let t = hook(&w);
    t.clone().event("wh-clr", 1).run().status(0);
    t.again()
        .event("wh-clr", 1)
        .args(["--clear"])
        .run()
        .status(0);
    let clears = w.clears();
    assert_eq!(clears.len(), 1);
    assert_eq!(clears[0]["ticket"], "T-1001");
    assert_eq!(clears[0]["event"], "clear");
    let r = w.requests().into_iter().last().unwrap();
    assert_eq!(
        r.header("idempotency-key"),
        Some(format!("\"{}-clear\"", key_of(&t, "wh-clr", 1)).as_str())
    );
}

/// A webhook section whose token comes from `tokenfile` holding `content` (0600).
fn with_tokenfile(w: &Webhook, content: &[u8]) -> Test {
    let t = Test::new()
        .general("ticketsystem: webhook")
        .general("retrydelay: 0");
    let file = t.path().join("hook.token");
    std::fs::write(&file, content).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let section = w.section().replace(
        &format!("token: {TOKEN}"),
        &format!("tokenfile: {}", file.display()),
    );
    t.section(&section)
}

#[test]
fn a_tokenfile_is_read_as_its_first_line_without_a_byte_order_mark() {
    let w = Webhook::start();
    for (evid, content) in [
        ("bom-1", format!("\u{feff}{TOKEN}\r\n")),
        ("bom-2", format!("{TOKEN}\nsecond line, a note\n")),
    ] {
        let t = with_tokenfile(&w, content.as_bytes());
        t.clone().args(["check-config"]).run().status(0);
        t.clone().event(evid, 1).run().status(0).decision("ticket");
    }
    assert_eq!(w.tickets().len(), 2);
}

#[test]
fn a_secret_a_header_cannot_carry_or_an_empty_one_is_a_config_error_never_shown() {
    let w = Webhook::start();
    let t = with_tokenfile(&w, b"\n\n");
    t.clone()
        .args(["check-config"])
        .run()
        .status(2)
        .stderr_has(&format!(
            "[WEBHOOK] tokenfile: {}/hook.token is empty (its first line holds no secret)\n",
            t.path().display()
        ));
    let t = with_tokenfile(&w, b"abc\x01def\n");
    t.clone()
        .args(["check-config"])
        .run()
        .status(2)
        .stderr_has(&format!(
            "[WEBHOOK] tokenfile: {}/hook.token holds a control character (U+0001) a header \
         cannot carry (the content is not shown)\n",
            t.path().display()
        ));
    // An inline token with a continuation line: ConfigParser joins it with a newline.
    let t = Test::new()
        .general("ticketsystem: webhook")
        .section(&w.section().replace(
            &format!("token: {TOKEN}\n"),
            &format!("token: {TOKEN}\n  PART2-s3cr3t\n"),
        ));
    let out = t.clone().args(["check-config"]).run();
    out.status(2).stderr_has(
        "[WEBHOOK] token: holds a control character (a line break: a continuation line?) a \
         header cannot carry (the content is not shown)\n",
    );
    let hook = t.again().event("sec-1", 1).args(["--json"]).run();
    for text in [
        &out.stdout,
        &out.stderr,
        &hook.stdout,
        &hook.stderr,
        &hook.log(),
    ] {
        assert!(
            !text.contains("PART2-s3cr3t") && !text.contains(TOKEN),
            "{text}"
        );
    }
    assert!(w.requests().is_empty());
}

#[test]
fn a_cafile_that_is_missing_empty_or_no_certificate_is_a_config_error() {
    let w = Webhook::start();
    for (file, content, why) in [
        ("missing.pem", None, "No such file or directory"),
        (
            "empty.pem",
            Some(""),
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ),
        (
            "garbage.pem",
            Some("not a certificate\n"),
            "holds no PEM certificate",
        ),
    ] {
        let t = Test::new()
            .general("ticketsystem: webhook")
            .section(&format!("{}cafile: {{dir}}/{file}\n", w.section()));
        if let Some(c) = content {
            std::fs::write(t.path().join(file), c).unwrap();
        }
        let dir = t.path().display().to_string();
        t.args(["check-config"])
            .run()
            .status(2)
            .stderr_has(&format!("[WEBHOOK] cafile: cafile {dir}/{file}: "))
            .stderr_has(why);
    }
}

#[test]
fn a_webhook_url_is_sent_as_written_with_its_trailing_slash() {
    let w = Webhook::start();
    let t = Test::new()
        .general("ticketsystem: webhook")
        .section(&w.section().replace("/hooks/zenoss\n", "/hooks/zenoss/\n"));
    t.clone().event("slash-1", 1).run().status(0);
    assert_eq!(w.requests()[0].route(), "/hooks/zenoss/");
}

#[test]
fn one_ticket_the_receiver_never_confirms_does_not_hold_the_others() {
    let w = Webhook::start();
    w.never_confirm("poison");
    let t = hook(&w).general("breakafter: 2");
    t.clone()
        .event("poison", 1)
        .run()
        .status(1)
        .decision("ticket-failed");
    // The receiver fails for a while: the breaker opens; later hooks defer.
    w.fail_next(&[Fault::Error500, Fault::Error500]);
    t.again().event("down-1", 1).run().status(1);
    t.again().event("down-2", 1).run().status(1);
    for e in ["later-1", "later-2", "later-3"] {
        t.again()
            .event(e, 1)
            .run()
            .status(0)
            .decision("ticket-deferred");
    }
    // The receiver is back. The poison ticket is no probe for the system at every sweep:
    // another goes first, its success closes the breaker, and the backlog drains.
    let s = sweep(&t);
    assert_eq!(
        (s["succeeded"].as_u64(), s["failed"].as_u64()),
        (Some(5), Some(1)),
        "{s}"
    );
    t.again()
        .args(["status"])
        .run()
        .stdout_has("breaker: closed (0 failures in a row of the ticket system (webhook))");
    let owed: Vec<String> = t
        .again()
        .args(["state", "--json"])
        .run()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["pending"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["what"] == "ticket")
        })
        .map(|r| r["evid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(owed, ["poison"]);
}

#[test]
fn a_wait_the_receiver_asks_for_defers_the_ticket_and_the_hook_exits_0() {
    let w = Webhook::start();
    w.fail_next(&[Fault::RateLimited("120")]);
    let t = hook(&w);
    let out = t.clone().event("busy-1", 1).run();
    out.status(0).decision("ticket-deferred").stdout_has(
        "webhook answered 429 (too many requests): rate limited: owed, for `zenticket-hook sweep` \
         (the ticket system asked to wait)",
    );
    assert_eq!(sweep(&t)["retried"], 0, "not before the wait is over");
}

#[test]
fn two_zenoss_hosts_sharing_a_receiver_never_adopt_each_others_ticket() {
    let w = Webhook::start();
    // A cloned or restored Zenoss: the same evid and count, the same config.
    let a = hook(&w);
    let b = hook(&w);
    let ta = a.clone().event("clone-1", 1).args(["--json"]).run();
    let tb = b.clone().event("clone-1", 1).args(["--json"]).run();
    ta.status(0);
    tb.status(0);
    assert_ne!(ta.json()["ticket"], tb.json()["ticket"]);
    assert_eq!(w.tickets().len(), 2);
    // check-config shows the id that makes the difference.
    let id_of = |t: &Test| {
        let out = t.again().args(["check-config"]).run();
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("installation "))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .unwrap()
    };
    assert_ne!(id_of(&a), id_of(&b));
    assert_eq!(id_of(&a).len(), 16);
}
