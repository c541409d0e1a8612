//! `replay`: a config checked against past events. A file of events through two configs
//! that differ in one group lists exactly the moved events; the summary's counts are the
//! per-event decisions; Zenoss's console and archive are paged, back to `--since`; a config
//! error names file and key; nothing is written anywhere.
use crate::common::zenoss::{Fault, Version, ZEvent, Zenoss};
use crate::common::*;

/// Five events of the kinds that matter, as JSON lines in the `detail` and `--event-json`
/// shapes (and one line that is not an event).
const EVENTS: &str = r#"{"evid":"r-net","count":2,"eventState":"Acknowledged","severity":4,"prodState":"Production","device":"sw1","DeviceGroups":[{"uid":"/zport/dmd/Groups/Network","name":"/Network"}],"summary":"link down"}
{"evid":"r-srv","count":1,"eventState":0,"severity":5,"prodState":1000,"device":"srv1","DeviceGroups":"|/Server","summary":"disk full"}
{"evid":"r-app","count":1,"eventState":0,"severity":4,"prodState":1000,"device":"app1","DeviceGroups":"|/Apps","summary":"slow"}
{"evid":"r-info","count":7,"eventState":0,"severity":2,"prodState":1000,"device":"sw2","DeviceGroups":"|/Network","summary":"noise"}
{"evid":"r-ping","count":1,"eventState":0,"severity":4,"prodState":400,"device":"lab1","DeviceGroups":"|/Network","eventClass":"/Status/Ping","summary":"down"}
not an event
"#;

/// LAB routes /Network and /Server; the proposed config moves /Server to a new customer.
fn proposed() -> String {
    format!(
        "{}\n[ACME]\nid: acme-1\nqueue: Acme Q\ngroup1: /Server\n",
        LAB_CONFIG
    )
}

fn with_events(t: &Test) -> std::path::PathBuf {
    let p = t.path().join("events.jsonl");
    std::fs::write(&p, EVENTS).unwrap();
    p
}

#[test]
fn a_changed_group_lists_exactly_the_moved_events() {
    let t = Test::new();
    let events = with_events(&t);
    let other = t.path().join("proposed.conf");
    std::fs::write(
        &other,
        proposed().replace("{dir}", &t.path().display().to_string()),
    )
    .unwrap();
    let out = t
        .clone()
        .args(["replay", "--events"])
        .args([&events])
        .args(["--against".as_ref(), other.as_os_str()])
        .run();
    out.status(0).stderr("").stdout(
        "replay of 5 event(s) from {dir}/events.jsonl, each as one new occurrence\n\
         under {dir}/etc/zenticket.conf:\n  \
         section                  customer         queue                 tickets\n  \
         [LAB]                    nnl-00000        Front Line                  2\n  \
         filtered-closed 1, filtered-kept 1 (top filters: minseverity 1, prodstate 1)\n  \
         no-group 1 (top device groups: |/Apps 1)\n\
         under {dir}/proposed.conf:\n  \
         section                  customer         queue                 tickets\n  \
         [ACME]                   acme-1           Acme Q                      1\n  \
         [LAB]                    nnl-00000        Front Line                  1\n  \
         filtered-closed 1, filtered-kept 1 (top filters: minseverity 1, prodstate 1)\n  \
         no-group 1 (top device groups: |/Apps 1)\n\
         1 event(s) decided differently (another customer: 1)\n  \
         r-srv  srv1  |/Server  ticket [LAB] nnl-00000/Front Line -> ticket [ACME] acme-1/Acme Q\n\
         1 line(s) or row(s) did not read as an event\n",
    );
    // Nothing was written: no state DB, no log.
    assert!(!t.path().join("var").exists() && !t.path().join("log").exists());
}

#[test]
fn the_summary_counts_are_the_per_event_decisions() {
    let t = Test::new();
    let events = with_events(&t);
    let out = t
        .clone()
        .args(["--json", "replay", "--events"])
        .args([&events])
        .run();
    out.status(0);
    let j = out.json();
    let r = &j["result"];
    // Each event decided by the hook itself, dry, as a new occurrence.
    let mut kinds = std::collections::BTreeMap::new();
    for line in EVENTS.lines().filter(|l| l.starts_with('{')) {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["eventState"] = 0.into();
        let one = t
            .again()
            .args(["--dry-run", "--json", "--event-json", "-"])
            .stdin(v.to_string().as_bytes())
            .run();
        *kinds
            .entry(one.json()["decision"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    let tickets: u64 = r["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["tickets"].as_u64().unwrap())
        .sum();
    assert_eq!(kinds.get("ticket").copied().unwrap_or(0), tickets);
    assert_eq!(
        kinds.get("filtered-closed").copied().unwrap_or(0),
        r["filtered_closed"]
    );
    assert_eq!(
        kinds.get("filtered-kept").copied().unwrap_or(0),
        r["filtered_kept"]
    );
    assert_eq!(kinds.get("no-group").copied().unwrap_or(0), r["no_group"]);
    assert_eq!(r["events"], 5);
    assert_eq!(j["unreadable"], 1);
}

#[test]
fn zenoss_console_and_archive_are_paged_back_to_since() {
    let z = Zenoss::start(Version::V6);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // 1,500 archived events over the last ten days, 300 open ones from today.
    for i in 0..1500 {
        let mut e = ZEvent::new(&format!("old-{i:05}"));
        e.state = 3;
        e.last_time = now - 600.0 * i as f64;
        z.add(e);
    }
    for i in 0..300 {
        let mut e = ZEvent::new(&format!("open-{i:05}"));
        e.last_time = now - 60.0;
        z.add(e);
    }
    let t = Test::new().zenoss(&z);
    let out = t.clone().args(["--json", "replay", "--since", "5d"]).run();
    out.status(0);
    // 5 days of 600 s steps: old-00000 .. old-00719.
    assert_eq!(out.json()["result"]["events"], 300 + 720);
    // The details each ticket would be set on its event with.
    assert_eq!(
        out.json()["details"],
        serde_json::json!({"zenticket.ticket": "<the ticket's id>", "zenticket.system": "script",
            "zenticket.url": "<its page, where the system gives one>"})
    );
    let queries: Vec<_> = z
        .calls()
        .into_iter()
        .filter(|c| c.method == "query")
        .collect();
    assert!(
        queries.iter().any(|c| c.data["archive"] == true),
        "the history is read"
    );
    assert!(queries.iter().filter(|c| c.data["archive"] == true).count() >= 1);
    assert_eq!(
        z.methods().iter().filter(|m| *m != "query").count(),
        0,
        "nothing in Zenoss changed"
    );
    assert!(!t.path().join("var").exists(), "no state DB");
    // The archive is read newest first and no further than --since needs.
    let archive_pages = queries.iter().filter(|c| c.data["archive"] == true).count();
    assert_eq!(
        archive_pages, 1,
        "720 of 1,500 fit in the first page of 1,000"
    );
    t.again()
        .args(["replay", "--since", "1h"])
        .run()
        .stdout_has(
        "\neach ticket is set on its event (the console's Ticket column) as zenticket.system = \
             script, zenticket.ticket = <the ticket's id>, zenticket.url = <its page, where the \
             system gives one>\n",
    );
    // Zenoss unreachable: exit 1.
    z.fail_next(&[Fault::Status503]);
    let down = t.again().args(["replay"]).run();
    down.status(1).stdout("").stderr(
        "zenticket-hook: cannot read events from Zenoss: Zenoss answered HTTP 503: Service Unavailable\n",
    );
}

#[test]
fn a_config_error_in_either_config_names_file_and_key() {
    let t = Test::new();
    let events = with_events(&t);
    let bad = t.path().join("bad.conf");
    std::fs::write(&bad, "[GENERAL]\n[A]\nid: a\n").unwrap();
    let out = t
        .clone()
        .args(["replay", "--events"])
        .args([&events])
        .args(["--against".as_ref(), bad.as_os_str()])
        .run();
    out.status(2).stdout("").stderr(
        "zenticket-hook: {dir}/bad.conf:2: [A] queue: is missing: every customer section needs `id` \
         and `queue` (or name this section GENERAL... if it is not a customer)\n",
    );
    let out = t.again().args(["replay", "--since", "7w"]).run();
    out.status(2).stderr(
        "zenticket-hook: invalid value '7w' for '--since <SINCE>': --since \"7w\": the unit is d, h, m or s (see --help)\n",
    );
}

/// A line longer than an event can be (16 MiB, as `--event-json`) is counted as
/// unreadable without being kept, and the file read on: the events after it still count.
/// A 64 MiB line must not cost 64 MiB: the binary runs with its heap capped at 48 MiB
/// (RLIMIT_DATA), which a reader that keeps the line cannot live within.
#[test]
fn a_line_past_16_mib_is_unreadable_unkept_and_the_rest_is_read() {
    use std::os::unix::process::CommandExt;
    let t = Test::new();
    let p = t.path().join("events.jsonl");
    let mut data = vec![b'{'; 64 << 20];
    data.push(b'\n');
    data.extend_from_slice(EVENTS.lines().nth(1).unwrap().as_bytes());
    data.push(b'\n');
    std::fs::write(&p, &data).unwrap();
    drop(data);
    let mut cmd = t
        .clone()
        .args(["--json", "replay", "--events"])
        .args([&p])
        .prepare();
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: 48 << 20,
                rlim_max: 48 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}: {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["result"]["events"], 1, "{j}");
    assert_eq!(j["unreadable"], 1, "{j}");
}
