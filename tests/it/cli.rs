//! The command line: options, usage errors (exit 2, one line), None, --event-json,
//! --dry-run, --json, the empty environment Zenoss 4.2 gives, check-config and state.
use crate::common::*;

#[test]
fn usage_errors_exit_2_with_one_line() {
    for (args, line) in [
        (vec!["--count", "1"], "--evid is required"),
        (
            vec!["--evid", "e", "--count", "x"],
            "--count \"x\" is not a whole number (or None)",
        ),
        (
            vec!["--evid", "e", "--count", "1", "--bogus"],
            "unexpected argument '--bogus' found (see --help)",
        ),
        (
            vec!["--evid", "e", "--count", "1", "--event-state", "9"],
            "--event-state must be 0..6 (0 New, 1 Acknowledged, 2 Suppressed, 3 Closed, 4 Cleared, 5 Dropped, 6 Aged)",
        ),
        (
            vec!["--evid", "e", "--count", "1"],
            "evid e: --event-state is missing (Zenoss renders it as ${evt/eventState})",
        ),
        (
            vec!["--evid", "e", "--event-state", "0"],
            "evid e: --count is missing (Zenoss renders it as ${evt/count})",
        ),
        (
            vec!["--evid", "a\u{7}b", "--count", "1"],
            "--evid \"a\\u{7}b\" contains a control character",
        ),
        (
            vec!["--evid", "e", "--count", "1", "--last-time", "soon"],
            "--last-time: \"soon\" is not a time (expected `2009/11/18 16:45:33.000`, ISO 8601, or epoch seconds or milliseconds)",
        ),
    ] {
        let out = Test::new().args(&args).run();
        out.status(2)
            .stdout("")
            .stderr(&format!("zenticket-hook: {line}\n"));
        assert!(out.calls().is_empty());
    }
}

#[test]
fn none_is_not_given() {
    // Zenoss renders a missing integer as None: prodState None fails the prodstate filter.
    let out = Test::new()
        .event("none-1", 1)
        .args(["--prod-state", "None", "--json"])
        .run();
    out.status(0).decision("filtered-closed");
    assert!(out.json()["reason"]
        .as_str()
        .unwrap()
        .contains("prodState None is not 1000"));
}

#[test]
fn unreadable_config_exits_2_and_names_it() {
    let out = Test::new()
        .args([
            "--config",
            "/nonexistent/zenticket.conf",
            "--evid",
            "e",
            "--count",
            "1",
            "--event-state",
            "0",
        ])
        .run();
    out.status(2).stdout("").stderr(
        "zenticket-hook: /nonexistent/zenticket.conf: cannot read: No such file or directory \
         (os error 2); evid e NOT recorded: no statedb could be read from the config and ZENHOME \
         is unknown\n",
    );
}

#[test]
fn a_broken_config_still_records_the_event_for_sweep() {
    // An unread key may be broken (the daemon never read it either); `id` may not.
    let conf = format!("{LAB_CONFIG}helper = %(nope)s\nid: %(missing)s\n");
    let line = LAB_CONFIG.lines().count() + 2;
    let out = Test::new().config(&conf).event("broken-1", 1).run();
    out.status(2).stdout("").stderr(&format!(
        "zenticket-hook: {{dir}}/etc/zenticket.conf:{line}: [LAB] id: %(missing)s refers to a key \
         that is neither in this section nor in [DEFAULT]; evid broken-1 recorded in \
         {{dir}}/var/zenticket.db as pending for `sweep`\n"
    ));
    // Fixed config: the state shows the ticket owed.
    let fixed = out
        .again()
        .config(LAB_CONFIG)
        .args(["--json", "state"])
        .run();
    let row = &fixed.json()[0];
    assert_eq!(row["evid"], "broken-1");
    assert_eq!(row["pending"][0]["what"], "ticket");
    let why = format!(
        "config error: {}/etc/zenticket.conf:{line}: [LAB] id: %(missing)s refers to a key \
         that is neither in this section nor in [DEFAULT]",
        out.dir.display()
    );
    assert_eq!(row["pending"][0]["last_error"], why.as_str());
}

#[test]
fn dry_run_changes_nothing_and_shows_the_argv() {
    let out = Test::new()
        .event("dry-1", 1)
        .args(["--dry-run", "--json"])
        .run();
    out.status(0);
    let j = out.json();
    assert_eq!(j["decision"], "ticket");
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["ack"], "skipped");
    assert_eq!(j["argv"][1], "-customer");
    assert_eq!(j["argv"][30], "Front Line");
    assert!(out.calls().is_empty());
    assert!(!out.log().contains("dry-1"));
    // Nothing was stored: the real call still makes the ticket.
    out.again()
        .event("dry-1", 1)
        .run()
        .status(0)
        .decision("ticket");
}

#[test]
fn json_output_has_every_field() {
    let out = Test::new().event("json-1", 2).args(["--json"]).run();
    let j = out.json();
    for key in [
        "evid",
        "decision",
        "reason",
        "customer",
        "queue",
        "ticket",
        "argv",
        "ack",
        "close",
        "autoclear",
        "dry_run",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    assert_eq!(j["ticket"], 1001);
    assert_eq!(j["customer"], "nnl-00000");
    assert_eq!(j["queue"], "Front Line");
    assert_eq!(j["ack"], "pending");
    assert_eq!(j["close"], "not-needed");
    assert_eq!(j["autoclear"], false);
}

#[test]
fn event_json_fills_fields_and_the_command_line_wins() {
    let json = r#"{"evid":"ej-1","count":4,"eventState":"New","severity":"Error","prodState":"Production",
        "device":{"text":"sw1","uid":"/zport/dmd/Devices/x/devices/sw1"},"ipAddress":["10.9.9.9"],
        "summary":"from json","message":"m","DeviceGroups":[{"uid":"/zport/dmd/Groups/Server","name":"/Server"}],
        "DevicePriority":"High","firstTime":1700000000.5,"lastTime":"2023-11-14 22:13:20"}"#;
    let out = Test::new()
        .args(["--event-json", "-", "--summary", "from the command line"])
        .stdin(json.as_bytes())
        .run();
    out.status(0).decision("ticket");
    let call = &out.calls()[0];
    let get = |flag: &str| String::from_utf8_lossy(&arg_after(call, flag)).into_owned();
    assert_eq!(get("-device"), "sw1");
    assert_eq!(get("-deviceIP"), "10.9.9.9");
    assert_eq!(get("-summary"), "from the command line");
    assert_eq!(get("-group"), "|/Server");
    assert_eq!(get("-impact"), "4");
    assert_eq!(get("-count"), "4");
    assert!(
        get("-first").ends_with(".500") && get("-first").contains('/'),
        "{}",
        get("-first")
    );
}

#[test]
fn empty_environment_infers_zenhome_from_the_config_path() {
    // No statedb/logfile in the config: they default under $ZENHOME, which is the parent
    // of the config's etc/ folder when ZENHOME is unset.
    let conf = LAB_CONFIG
        .replace("statedb: {dir}/var/zenticket.db\n", "")
        .replace("logfile: {dir}/log/zenticket.log\n", "");
    let out = Test::new()
        .config(&conf)
        .empty_env()
        .event("env-2", 1)
        .run();
    out.status(0).decision("ticket");
    assert!(out.dir.join("var/zenticket.db").exists());
    out.logged(&[
        "INFO zen.zenticket: evid env-2: no [ZENOSS] section in {dir}/etc/zenticket.conf: acknowledge/close recorded as pending",
        "INFO zen.zenticket: ticket 1001 for evid env-2 (customer nnl-00000, queue Front Line); acknowledge pending",
    ]);
}

#[test]
fn log_lines_have_the_daemons_format() {
    // `logged` checks each line's form: `%Y-%m-%d %H:%M:%S LEVEL zen.zenticket: `.
    let out = Test::new().event("log-1", 1).run();
    out.status(0).logged(&[
        "INFO zen.zenticket: evid log-1: no [ZENOSS] section in {dir}/etc/zenticket.conf: acknowledge/close recorded as pending",
        "INFO zen.zenticket: ticket 1001 for evid log-1 (customer nnl-00000, queue Front Line); acknowledge pending",
    ]);
}

#[test]
fn check_config_prints_the_routing_table() {
    let conf = format!("{}[ACME]\nid: acme-1\nqueue: Acme\ncustomer = Acme Corp\ngroup1: /%(customer)s\ngroup2: /%(customer)s/Network\n  # looks like a comment\n", LAB_CONFIG.replace("cycletime: 30\n", "cycletime: 30\nautocleartme: 5\n"));
    let out = Test::new().config(&conf).args(["check-config"]).run();
    out.status(0)
        .stdout(
            "config {dir}/etc/zenticket.conf: OK\n\
             ticketscript {dir}/create_ticket.pl\n\
             zenhome      {dir}\n\
             statedb      {dir}/var/zenticket.db (SQLite: one host)\n\
             installation (made with the state DB, by the first hook) (in every key a ticket \
             system sees; kept in the state DB)\n\
             cycletime    30s (the zenticket daemon's period: `sweep --every`)\n\
             logfile      {dir}/log/zenticket.log\n\
             zenoss       (none: acknowledge/close stay pending)\n\
             \n\
             routing (the last matching section wins):\n\
             section              id               queue                groups\n\
             LAB                  nnl-00000        Front Line           /Network /Security /Server /Up-Down\n\
             ACME                 acme-1           Acme                 /Acme Corp /Acme Corp/Network\n# looks like a comment\n",
        )
        .stderr(
            "warning: {dir}/etc/zenticket.conf:24: \"  # looks like a comment\" starts with white space, \
             so it continues the value above it (Python's ConfigParser did the same); remove the indent \
             if it is meant as its own line\n\
             warning: {dir}/etc/zenticket.conf:4: [GENERAL] autocleartme: unknown key, ignored (a typo? \
             known keys: ticketscript, clearscript, cycletime, autocleartime, statedb, statedbpasswordfile, logfile, syslog, \
             scripttimeout, notetitle, collector, matchsubgroups, retries, retrywindow, retrydelay, \
             retrymaxdelay, maxwait, breakafter, reconcile, ticketsystem, onticketclosed)\n",
        );
}

#[test]
fn check_config_reports_every_error_with_file_section_and_key() {
    let conf = "[GENERAL]\nscripttimeout: soon\n[FILTERS]\nskipsummary: ([\n[A]\nid: a\n";
    let out = Test::new().config(conf).args(["check-config"]).run();
    out.status(2).stdout("").stderr(
        "error: {dir}/etc/zenticket.conf:2: [GENERAL] scripttimeout: \"soon\" is not a positive number of seconds\n\
         error: {dir}/etc/zenticket.conf:4: [FILTERS] skipsummary: \"([\" is not a valid regular expression \
         (error: unclosed character class)\n\
         error: {dir}/etc/zenticket.conf:5: [A] queue: is missing: every customer section needs `id` and \
         `queue` (or name this section GENERAL... if it is not a customer)\n\
         zenticket-hook: {dir}/etc/zenticket.conf: 3 error(s)\n",
    );
}

#[test]
fn clear_records_and_runs_the_clear_script_with_the_ticket() {
    let conf = LAB_CONFIG.replace("cycletime: 30\n", "cycletime: 30\nclearscript: {script}\n");
    let out = Test::new().config(&conf).event("clr-1", 1).run();
    out.status(0).decision("ticket");
    let cleared = out
        .again()
        .event("clr-1", 1)
        .args(["--clear", "--event-state", "4"])
        .run();
    cleared
        .status(0)
        .stdout("cleared for evid clr-1: event cleared; its ticket is 1001\n");
    let calls = cleared.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        text(&calls[1][..4]),
        ["-ticket", "1001", "-customer", "nnl-00000"]
    );
    let state = cleared.state();
    assert_eq!(state[0]["cleared"], true);
    assert_eq!(state[0]["event_state"], 4);
}

#[test]
fn version_and_help_exit_0() {
    Test::new()
        .args(["--version"])
        .run()
        .status(0)
        .stdout(concat!("zenticket-hook ", env!("CARGO_PKG_VERSION"), "\n"));
    Test::new()
        .args(["--help"])
        .run()
        .status(0)
        .stdout_has("--event-json");
}

#[test]
fn a_repeat_writes_nothing_but_keeps_the_row_alive_hourly() {
    let out = Test::new().event("rep-1", 1).run();
    out.status(0).decision("ticket");
    let updated = |o: &Output| o.state()[0]["updated"].as_f64().unwrap();
    let first = updated(&out);
    let again = out.again().event("rep-1", 1).run();
    again.status(0).decision("unchanged");
    assert_eq!(
        updated(&again),
        first,
        "a repeat is decided from a read alone"
    );
    // An hour later the same repeat touches the row, so pruning sees the event alive.
    sql(
        out.dir.as_path(),
        "UPDATE events SET updated = updated - 7200",
    );
    let later = out.again().event("rep-1", 1).run();
    later.status(0).decision("unchanged");
    assert!(
        updated(&later) >= first,
        "touched: {} vs {}",
        updated(&later),
        first
    );
    // A changed state is written at once.
    let acked = out
        .again()
        .event("rep-1", 1)
        .args(["--event-state", "1"])
        .run();
    acked.status(0).decision("unchanged");
    assert_eq!(acked.state()[0]["event_state"], 1);
}

#[test]
fn requeue_names_what_it_needs_and_what_it_found() {
    Test::new()
        .args(["requeue"])
        .run()
        .status(2)
        .stdout("")
        .stderr(
            "zenticket-hook: the following required arguments were not provided: \
         <--evid <EVID>|--all> (see --help)\n",
        );
    let t = Test::new();
    t.clone().event("rq-1", 1).run().status(0);
    let nothing = "(`zenticket-hook state --given-up` lists what was given up)";
    t.again()
        .args(["requeue", "--evid", "rq-9"])
        .run()
        .status(2)
        .stderr(&format!(
            "zenticket-hook: requeue: evid rq-9 is not in the state DB: nothing to requeue {nothing}\n"
        ));
    // rq-1 still owes its acknowledgement (no [ZENOSS]), but nothing is given up.
    t.again()
        .args(["requeue", "--evid", "rq-1"])
        .run()
        .status(2)
        .stderr(&format!(
            "zenticket-hook: requeue: evid rq-1 has nothing given up (1 piece(s) of work still \
             owed, retried by sweep): nothing to requeue {nothing}\n"
        ));
}

#[test]
fn help_gives_every_event_field_a_line_under_its_own_heading() {
    let out = Test::new().args(["--help"]).run();
    out.status(0);
    let help = &out.stdout;
    let (_, fields) = help
        .split_once("\nEvent fields (one event per call, as the notification renders them):\n")
        .expect("the event fields' heading");
    let lines: Vec<&str> = fields.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("--") {
            let next = lines.get(i + 1).map_or("", |n| n.trim());
            assert!(
                !next.is_empty() && !next.starts_with("--"),
                "{l} has no line of its own:\n{help}"
            );
        }
    }
    for f in [
        "--device ",
        "--last-time ",
        "--device-priority ",
        "--event-json ",
    ] {
        assert!(fields.contains(f), "{f} under the heading");
    }
}
