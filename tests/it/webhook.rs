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
    let key = key_of("wh-1", 1);
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
    out.status(1);
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
        Some(format!("\"{}-clear\"", key_of("wh-clr", 1)).as_str())
    );
}
