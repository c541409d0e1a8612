//! ServiceNow through the built-in adapter, against a test server answering as the Table
//! API does: one incident per count increase with the key in `correlation_id`, exactly
//! once through a lost answer (looked up by the key, never taking an unrelated row),
//! 429 waited out, 400 given up with ServiceNow's words, a login page never a ticket, 401
//! named and counted by the breaker with no secret anywhere, clear as comment or resolve,
//! the ticket's note back on the event, and 50 hooks at once.
use crate::common::servicenow::{Fault, ServiceNow, PASSWORD};
use crate::common::zenoss::{Version, ZEvent, Zenoss};
use crate::common::*;
use std::process::{Child, Stdio};

fn snow(sn: &ServiceNow) -> Test {
    Test::new()
        .general("ticketsystem: servicenow")
        .general("retrydelay: 0")
        .section(&sn.section())
}

fn state(t: &Test) -> serde_json::Value {
    t.again().args(["--json", "state"]).run().json()
}

#[test]
fn a_ticket_is_an_incident_keyed_by_correlation_id_and_noted_on_the_event() {
    let sn = ServiceNow::start();
    let z = Zenoss::start(Version::V6);
    z.add(ZEvent::new("sn-1"));
    let t = snow(&sn).zenoss(&z);
    let out = t.clone().event("sn-1", 1).args(["--json"]).run();
    out.status(0);
    let j = out.json();
    assert_eq!(j["decision"], "ticket");
    assert_eq!(j["ticket"], "INC0010001", "a string, as every system's id");
    assert_eq!(j["ack"], "done");
    let inc = &sn.incidents()[0];
    let key = crate::common::key_of(&t, "sn-1", 1);
    assert_eq!(inc["correlation_id"], key.as_str());
    assert_eq!(inc["correlation_display"], "zenticket");
    assert_eq!(inc["short_description"], "Interface Gi0/1 down");
    assert_eq!(inc["assignment_group"], "Front Line");
    assert_eq!(inc["company"], "nnl-00000");
    assert_eq!(
        (&inc["impact"], &inc["urgency"]),
        (&"1".into(), &"1".into())
    );
    assert!(inc["description"]
        .as_str()
        .unwrap()
        .starts_with("ifOperStatus=2\n\nDevice: router1 (10.0.0.1)\n"));
    let sys_id = inc["sys_id"].as_str().unwrap();
    let details = z.event("sn-1").unwrap().details;
    assert_eq!(
        serde_json::json!(details),
        serde_json::json!({
            "zenticket.ticket": "INC0010001",
            "zenticket.system": "servicenow",
            "zenticket.url": format!("{}/nav_to.do?uri=incident.do?sys_id={sys_id}", sn.server.url),
        })
    );
    assert_eq!(state(&t)[0]["tickets"], serde_json::json!(["INC0010001"]));
    // The same occurrence again: nothing sent.
    t.again()
        .event("sn-1", 1)
        .run()
        .status(0)
        .decision("unchanged");
    assert_eq!(sn.creates(), 1);
}

#[test]
fn a_create_whose_answer_is_lost_is_found_by_its_key_not_made_twice() {
    let sn = ServiceNow::start();
    sn.fail_next(&[Fault::DropAfterCreate]);
    let t = snow(&sn);
    let out = t.clone().event("lost-1", 1).run();
    out.status(1).decision("ticket-failed");
    out.stdout_has("no answer from servicenow");
    assert_eq!(sn.incidents().len(), 1, "it landed");
    let s = sweep(&t);
    assert_eq!(s["succeeded"], 1, "{s}");
    let methods: Vec<String> = sn.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["POST", "GET"], "looked up, not created again");
    assert_eq!(state(&t)[0]["tickets"], serde_json::json!(["INC0010001"]));
    out.log_has("ticket INC0010001 found by its key in servicenow after an answer was lost");
    assert_eq!(sweep(&t)["retried"], 0);
}

#[test]
fn a_lookup_answered_with_unrelated_rows_takes_only_the_row_with_the_key() {
    let sn = ServiceNow::start();
    sn.noise(true);
    sn.add_other("INC0009998", "zt-someone-else");
    sn.add_other("INC0009999", "");
    // A 502 from a proxy: nothing was made, and the lookup's rows are all unrelated.
    sn.fail_next(&[Fault::BadGateway, Fault::DropAfterCreate]);
    let t = snow(&sn);
    t.clone().event("noise-1", 1).run().status(1);
    sweep(&t);
    let ours: Vec<_> = sn
        .incidents()
        .into_iter()
        .filter(|i| i["correlation_id"] == crate::common::key_of(&t, "noise-1", 1).as_str())
        .collect();
    assert_eq!(ours.len(), 1, "made once after the unrelated rows");
    // That create's answer was lost too: found among unrelated rows by its key.
    sweep(&t);
    assert_eq!(
        state(&t)[0]["tickets"],
        serde_json::json!([ours[0]["number"]])
    );
    assert_eq!(sn.creates(), 2, "the 502 and the one that landed");
}

#[test]
fn too_many_requests_waits_as_told_sends_nothing_before_and_spares_the_breaker() {
    let sn = ServiceNow::start();
    sn.fail_next(&[
        Fault::TooMany(120),
        Fault::TooMany(120),
        Fault::TooMany(120),
    ]);
    let t = snow(&sn).general("breakafter: 1");
    let out = t.clone().event("busy-1", 1).run();
    out.status(0).decision("ticket-deferred");
    out.stdout_has(
        "servicenow answered 429 (too many requests): Too Many Requests; rate limit rule",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let next = state(&t)[0]["pending"][0]["next_try"].as_f64().unwrap();
    assert!(
        next >= now + 110.0,
        "retried no sooner than Retry-After: {next} vs {now}"
    );
    let s = sweep(&t);
    assert_eq!(s["retried"], 0, "{s}");
    assert_eq!(sn.creates(), 1, "no request before the time it gave");
    // A second event is not deferred: a 429 does not open the breaker.
    t.again()
        .event("busy-2", 1)
        .run()
        .status(0)
        .decision("ticket-deferred");
    assert_eq!(sn.creates(), 2, "sent, not deferred by a breaker");
}

#[test]
fn a_refused_body_is_given_up_at_once_with_servicenows_words() {
    let sn = ServiceNow::start();
    sn.fail_next(&[Fault::BadRequest(
        "assignment_group: no group named 'Front Line'",
    )]);
    let t = snow(&sn);
    let out = t.clone().event("bad-1", 1).run();
    out.status(1).decision("ticket-failed");
    let words = "servicenow refused the request (400): Invalid input; assignment_group: no group named 'Front Line'";
    out.stdout_has(words);
    let given = t
        .again()
        .args(["--json", "state", "--given-up"])
        .run()
        .json();
    assert!(
        given[0]["given_up"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(words),
        "{given}"
    );
    for _ in 0..3 {
        sweep(&t);
    }
    assert_eq!(sn.creates(), 1, "no retry storm");
    t.again()
        .args(["requeue", "--evid", "bad-1"])
        .run()
        .status(0);
    assert_eq!(sweep(&t)["succeeded"], 1);
    assert_eq!(sn.creates(), 2);
}

#[test]
fn a_login_page_with_200_is_never_a_ticket() {
    let sn = ServiceNow::start();
    sn.fail_next(&[Fault::HtmlLogin]);
    let t = snow(&sn);
    let out = t.clone().event("sso-1", 1).run();
    out.status(1).decision("ticket-failed");
    out.stdout_has("servicenow answered 200 with an HTML page (Sign in - SSO), not a ticket: a login or proxy page?");
    assert!(state(&t)[0]["tickets"].as_array().unwrap().is_empty());
    sweep(&t);
    let methods: Vec<String> = sn.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(
        methods,
        ["POST", "GET", "POST"],
        "looked up first: the page might have hidden one"
    );
    assert_eq!(state(&t)[0]["tickets"], serde_json::json!(["INC0010001"]));
}

#[test]
fn refused_credentials_are_named_open_the_breaker_and_never_show_the_secret() {
    let sn = ServiceNow::start();
    let wrong = "wr0ng-Secret-77";
    let t = Test::new()
        .general("ticketsystem: servicenow")
        .section(&sn.section().replace(PASSWORD, wrong));
    for e in ["auth-1", "auth-2", "auth-3"] {
        let out = t.clone().event(e, 1).run();
        out.status(1).decision("ticket-failed");
        out.stdout_has("servicenow refused the credentials or rights (401): User Not Authenticated; Required to provide Auth information");
    }
    let out = t.again().event("auth-4", 1).run();
    out.status(0).decision("ticket-deferred");
    out.stdout_has("the ticket system (servicenow) failed 3 times in a row");
    let dry = t
        .again()
        .event("auth-5", 1)
        .args(["--dry-run", "--json"])
        .run();
    let mut everything = out.log() + &dry.stdout + &dry.stderr + &out.stdout + &out.stderr;
    everything +=
        &String::from_utf8_lossy(&std::fs::read(t.path().join("var/zenticket.db")).unwrap());
    everything += &t.again().args(["--json", "state"]).run().stdout;
    everything += &t.again().args(["status"]).run().stdout;
    assert!(!everything.contains(wrong), "the secret never shows");
}

#[test]
fn a_clear_resolves_or_comments_as_onclear_says() {
    for (onclear, want_state) in [("resolve", Some("6")), ("comment", None)] {
        let sn = ServiceNow::start();
        let t = Test::new()
            .general("ticketsystem: servicenow")
            .section(&format!("{}onclear: {onclear}\n", sn.section()));
        t.clone().event("clr-1", 1).run().status(0);
        let out = t
            .again()
            .event("clr-1", 1)
            .args(["--clear", "--event-state", "4"])
            .run();
        out.status(0)
            .stdout("cleared for evid clr-1: event cleared; its ticket is INC0010001\n");
        let inc = &sn.incidents()[0];
        let notes = inc["work_notes"].as_array().cloned().unwrap_or_default();
        assert_eq!(notes.len(), 1, "{onclear}: {inc}");
        assert!(notes[0]
            .as_str()
            .unwrap()
            .starts_with("zenticket: the event cleared in Zenoss at "));
        assert_eq!(
            inc["state"].as_str(),
            Some(want_state.unwrap_or("1")),
            "{onclear}"
        );
        if want_state.is_some() {
            assert_eq!(inc["close_code"], "Solved (Permanently)");
        }
        let patch = sn
            .requests()
            .into_iter()
            .find(|r| r.method == "PATCH")
            .unwrap();
        assert_eq!(
            patch.route(),
            format!(
                "/api/now/table/incident/{}",
                inc["sys_id"].as_str().unwrap()
            )
        );
    }
}

#[test]
fn dry_run_prints_the_request_and_sends_nothing() {
    let sn = ServiceNow::start();
    let t = snow(&sn);
    let out = t.clone().event("dry-1", 1).args(["--dry-run"]).run();
    out.status(0);
    out.stdout_has(&format!(
        "[dry run: nothing changed]\nwould send: POST {}/api/now/table/incident?sysparm_input_display_value=true\n{{\n  \"assignment_group\": \"Front Line\",",
        sn.server.url
    ));
    assert!(!out.stdout.contains(PASSWORD));
    assert!(sn.requests().is_empty());
}

#[test]
fn fifty_hooks_for_twenty_evids_make_one_incident_per_count() {
    let sn = ServiceNow::start();
    let t = snow(&sn);
    t.clone().event("warm", 1).run().status(0);
    let children: Vec<Child> = (0..50)
        .map(|i| {
            let mut cmd = t
                .again()
                .event(&format!("many-{}", i % 20), 1 + (i / 40) as i64)
                .prepare();
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().expect("spawn")
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    let keys: Vec<String> = sn
        .incidents()
        .iter()
        .map(|i| i["correlation_id"].as_str().unwrap().to_string())
        .collect();
    let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(
        keys.len(),
        unique.len(),
        "never two incidents for one count: {keys:?}"
    );
    assert_eq!(sn.creates(), keys.len(), "no create wasted");
    // Every evid is ticketed, and the ten called at count 2 at that count (count 1 as
    // well, unless its call came after count 2's: then it is not above the count seen).
    for i in 0..20 {
        let has = |count: i64| unique.contains(&key_of(&t, &format!("many-{i}"), count));
        assert!(has(1) || has(2), "many-{i}: {keys:?}");
        assert_eq!(has(2), i < 10, "many-{i}: {keys:?}");
    }
}

#[test]
fn check_config_shows_the_system_and_each_customers_request_and_names_body_errors() {
    let sn = ServiceNow::start();
    let t = snow(&sn);
    let out = t.clone().args(["check-config"]).run();
    out.status(0);
    out.stdout_has(&format!(
        "\nticketsystem servicenow at {}; the key goes in correlation_id (looked up there after \
         a lost answer); onclear: comment\n[LAB] would send, for a sample event:\nPOST {}/api/now/table/incident?sysparm_input_display_value=true\n{{\n  \"assignment_group\": \"Front Line\",",
        sn.server.url, sn.server.url
    ));
    assert!(!out.stdout.contains(PASSWORD));
    // A body that is not JSON: the line and column inside it.
    let broken = Test::new()
        .general("ticketsystem: servicenow")
        .section(&format!(
            "{}body: {{\"category\": \"network\",\n  \"impact\" 2}}\n",
            sn.section()
        ));
    let out = broken.args(["check-config"]).run();
    out.status(2);
    out.stderr_has("[SERVICENOW] body: is not JSON: expected `:` at line 2 column 10 of the body");
    // An integer placeholder of a value the config fixes, which is not one.
    let fixed = Test::new()
        .general("ticketsystem: servicenow")
        .section(&format!(
            "{}body: {{\"company\": \"{{customer:int}}\"}}\n",
            sn.section()
        ));
    let out = fixed.args(["check-config"]).run();
    out.status(2);
    out.stderr_has("[LAB] body: {customer:int}: \"nnl-00000\" is not an integer");
    // The system's section is never a customer.
    let odd = snow(&sn).section("[WEBHOOK]\nid: x\nqueue: y\n");
    odd.args(["check-config"]).run().stderr_has(
        "[WEBHOOK] holds id/queue, but it is the webhook ticket system's section, never a customer",
    );
}

#[test]
fn a_data_policy_refusing_one_incident_gives_it_up_and_spares_the_breaker() {
    let sn = ServiceNow::start();
    sn.fail_next(&[Fault::DataPolicy]);
    let t = snow(&sn).general("breakafter: 1");
    t.clone().event("policy-1", 1).run().status(1).stdout_has(
        "servicenow refused this record by a rule (403): Operation Failed; Data Policy Exception",
    );
    let given = t
        .again()
        .args(["--json", "state", "--given-up"])
        .run()
        .json();
    assert_eq!(given[0]["evid"], "policy-1");
    // The next event is ticketed at once: no breaker opened for one record.
    t.again()
        .event("policy-2", 1)
        .run()
        .status(0)
        .decision("ticket");
}

#[test]
fn a_redirect_after_a_create_that_landed_is_looked_up_not_made_again() {
    let sn = ServiceNow::start();
    sn.fail_next(&[Fault::RedirectAfterCreate]);
    let t = snow(&sn);
    t.clone()
        .event("redir-1", 1)
        .run()
        .status(1)
        .stdout_has("servicenow answered 303, a redirect");
    assert_eq!(sweep(&t)["succeeded"], 1);
    assert_eq!(sn.incidents().len(), 1, "one incident");
    assert_eq!(state(&t)[0]["tickets"], serde_json::json!(["INC0010001"]));
}

#[test]
fn a_create_answered_with_another_records_key_is_not_taken_as_the_ticket() {
    let sn = ServiceNow::start();
    sn.fail_next(&[Fault::OtherRecordAnswered]);
    let t = snow(&sn);
    t.clone()
        .event("other-1", 1)
        .run()
        .status(1)
        .stdout_has("whose correlation_id is \"zt-someone-elses-key\", not this event's key");
    assert_eq!(sweep(&t)["succeeded"], 1);
    assert_eq!(sn.incidents().len(), 1);
    assert_eq!(state(&t)[0]["tickets"], serde_json::json!(["INC0010001"]));
}
