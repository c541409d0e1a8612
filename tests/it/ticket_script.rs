//! The ticket script: the daemon's exact argv, byte-exact text, its environment, the
//! ticket-number rules, timeouts and failures that stay pending.
use crate::common::*;

#[test]
fn argv_is_exactly_the_daemons() {
    let out = Test::new().event("evid-1", 3).run();
    out.status(0).stdout(
        "ticket 1001 for evid evid-1 (customer nnl-00000, queue Front Line); acknowledge pending\n",
    );
    let calls = out.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        text(&calls[0]),
        [
            "-customer",
            "nnl-00000",
            "-device",
            "router1",
            "-deviceIP",
            "10.0.0.1",
            "-collector",
            "collector.example.com",
            "-first",
            "2009/11/18 16:45:33.000",
            "-last",
            "2009/11/18 16:47:10.000",
            "-count",
            "3",
            "-summary",
            "Interface Gi0/1 down",
            "-noteTitle",
            "System Monitor Error",
            "-note",
            "ifOperStatus=2",
            "-severity",
            "4",
            "-group",
            "|/Network",
            "-impact",
            "3",
            "-component",
            "Gi0/1",
            "-queue",
            "Front Line",
        ]
    );
}

#[test]
fn environment_carries_evid_count_and_a_stable_key() {
    let out = Test::new().event("evid-env", 2).run();
    out.status(0);
    let env = &out.call_envs()[0];
    assert_eq!(env[0], "evid-env");
    assert_eq!(env[1], "2");
    assert!(
        env[2].starts_with("zt-") && env[2].ends_with("-2-evid-env"),
        "{}",
        env[2]
    );
    // A second ticket for the same evid (count 3) gets a different key.
    let out2 = out.again().event("evid-env", 3).run();
    out2.status(0);
    let env2 = &out2.call_envs()[1];
    assert_ne!(env2[2], env[2]);
}

#[test]
fn hostile_text_reaches_the_script_byte_for_byte() {
    let evil: &[&[u8]] = &[
        b"$(touch PWNED)",
        b"`touch PWNED`; rm -rf / \"quoted\" 'single'",
        b"line one\nline two\r\n\ttab",
        b"\xff\xfe not utf-8 \xc3\x28",
        b"\x1b[31mred\x1b[0m",
        b"-customer evil -queue evil",
        b"trailing backslash \\",
    ];
    for (i, v) in evil.iter().enumerate() {
        let t = Test::new().event(&format!("hostile-{i}"), 1);
        let mut groups = b"|/Network|".to_vec();
        groups.extend_from_slice(v);
        let t = t.args([
            std::ffi::OsString::from("--summary"),
            os(v),
            "--message".into(),
            os(v),
            "--device".into(),
            os(v),
            "--component".into(),
            os(v),
            "--ip-address".into(),
            os(v),
            "--device-priority".into(),
            os(v),
            "--device-groups".into(),
            os(&groups),
        ]);
        let out = t.run();
        out.status(0).decision("ticket");
        let argv = &out.calls()[0];
        for flag in [
            "-summary",
            "-note",
            "-device",
            "-component",
            "-deviceIP",
            "-impact",
        ] {
            assert_eq!(arg_after(argv, flag), *v, "{flag} of case {i}");
        }
        assert_eq!(arg_after(argv, "-group"), groups, "-group of case {i}");
        assert_eq!(argv.len(), 30, "case {i}: one argv slot per value");
        assert!(!out.dir.join("PWNED").exists() && !std::path::Path::new("PWNED").exists());
        // The log stays one line per record.
        for line in out.log().lines() {
            assert!(
                line.len() > 19 && line.as_bytes()[4] == b'-',
                "torn log line {line:?}"
            );
        }
    }
}

#[test]
fn values_over_the_argument_limit_are_cut_and_logged() {
    // Linux refuses such an argument to the hook too: it comes in through --event-json.
    let big = "é".repeat(100_000); // 200,000 bytes
    let json = serde_json::json!({"message": big}).to_string();
    let out = Test::new().json_event("big-1", &json).run();
    out.status(0).decision("ticket");
    let argv = &out.calls()[0];
    let note = &arg_after(argv, "-note");
    assert!(
        note.len() < 131_072 && note.len() >= 131_069,
        "{}",
        note.len()
    );
    assert!(std::str::from_utf8(note).is_ok(), "cut inside a character");
    out.log_has("-note was 131072 bytes or longer");
    // A value just under the limit passes whole.
    let ok = "a".repeat(131_071);
    let json = serde_json::json!({"summary": ok}).to_string();
    let out = Test::new().json_event("big-2", &json).run();
    let argv = &out.calls()[0];
    assert_eq!(arg_after(argv, "-summary").len(), 131_071);
}

#[test]
fn a_number_then_a_failure_is_still_a_ticket() {
    let out = Test::new().mode("number-then-exit-3").event("e", 1).run();
    out.status(0).stdout("ticket 1001 for evid e (customer nnl-00000, queue Front Line); acknowledge pending\n").logged(&[
        "WARNING zen.zenticket: evid e: {dir}/create_ticket.pl printed ticket 1001 but ended with exit status 3; the ticket counts (a retry would make a second one)",
        "INFO zen.zenticket: evid e: no [ZENOSS] section in {dir}/etc/zenticket.conf: acknowledge/close recorded as pending",
        "INFO zen.zenticket: ticket 1001 for evid e (customer nnl-00000, queue Front Line); acknowledge pending",
    ]);
}

#[test]
fn no_ticket_number_is_ticket_failed_and_pending() {
    for (mode, words) in [
        ("fail", "printed no ticket number (exit status 1); stderr: recorder: mode fail\\nticket system says no"),
        ("text", "printed \"Ticket created!\", not a positive ticket number"),
        ("zero", "printed \"0\", not a positive ticket number"),
        ("nothing", "printed no ticket number (exit status 0)"),
    ] {
        let out = Test::new().mode(mode).event("evid-f", 1).args(["--json"]).run();
        out.status(1).decision("ticket-failed");
        assert!(out.json()["reason"].as_str().unwrap().contains(words.split("; stderr").next().unwrap()), "{mode}: {}", out.stdout);
        out.log_has(words);
        let state = out.state();
        let pending = &state[0]["pending"];
        assert_eq!(pending[0]["what"], "ticket", "{mode}");
        assert_eq!(pending[0]["attempts"], 1);
        assert!(pending[0]["last_error"].as_str().unwrap().contains(words.split("; stderr").next().unwrap()));
        // The count is stored: the same event again is unchanged, not a second attempt.
        let again = out.again().event("evid-f", 1).run();
        again.status(0).decision("unchanged");
    }
}

#[test]
fn a_hanging_script_is_killed_with_its_children() {
    let script = "#!/bin/sh\n# starts a child that would hold stdout open, then hangs\n(sleep 60; touch {dir}/child-survived) &\necho $! > {dir}/child.pid\nsleep 60\n";
    let started = std::time::Instant::now();
    let out = Test::new()
        .script("hang.sh", script)
        .config(&LAB_CONFIG.replace("scripttimeout: 5", "scripttimeout: 1"))
        .event("hang-1", 1)
        .run();
    out.status(1).decision("ticket-failed");
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    out.stdout_has("printed nothing before it was killed at the timeout");
    let pid: i32 = std::fs::read_to_string(out.dir.join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Gone, or a zombie waiting for a reaper (the container's PID 1 may not reap).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let alive = !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z');
    assert!(
        !alive,
        "the script's child {pid} survived the timeout: {stat}"
    );
}

#[test]
fn a_number_before_the_timeout_counts() {
    let out = Test::new()
        .mode("number-then-hang")
        .config(&LAB_CONFIG.replace("scripttimeout: 5", "scripttimeout: 1"))
        .event("slow-1", 1)
        .run();
    out.status(0).stdout("ticket 1001 for evid slow-1 (customer nnl-00000, queue Front Line); acknowledge pending\n").logged(&[
        "WARNING zen.zenticket: evid slow-1: {dir}/create_ticket.pl printed ticket 1001 but was killed at the timeout; the ticket counts (a retry would make a second one)",
        "INFO zen.zenticket: evid slow-1: no [ZENOSS] section in {dir}/etc/zenticket.conf: acknowledge/close recorded as pending",
        "INFO zen.zenticket: ticket 1001 for evid slow-1 (customer nnl-00000, queue Front Line); acknowledge pending",
    ]);
}

#[test]
fn a_missing_script_is_ticket_failed() {
    let out = Test::new().no_script().event("nos-1", 1).run();
    out.status(1).stdout("ticket-failed for evid nos-1: new event; routed to [LAB]; cannot run {dir}/no-such-script: No such file or directory (os error 2)\n");
}

#[test]
fn no_ticketscript_keeps_tickets_pending() {
    let conf = LAB_CONFIG.replace("ticketscript: {script}\n", "");
    let out = Test::new().config(&conf).event("nots-1", 1).run();
    out.status(1).stdout("ticket-failed for evid nots-1: new event; routed to [LAB]; no ticketscript in [GENERAL]: ticket kept pending\n");
    assert_eq!(out.state()[0]["pending"][0]["what"], "ticket");
}

#[test]
fn a_shell_script_that_users_write_works_too() {
    let script = "#!/bin/sh\n# -customer ID ... -queue Q\nwhile [ $# -gt 0 ]; do case \"$1\" in -queue) q=\"$2\";; esac; shift 2; done\nprintf '%s\\n' \"$q\" > {dir}/queue.txt\necho 77\n";
    let out = Test::new()
        .script("ticket.sh", script)
        .event("sh-1", 1)
        .run();
    out.status(0).stdout(
        "ticket 77 for evid sh-1 (customer nnl-00000, queue Front Line); acknowledge pending\n",
    );
    assert_eq!(
        std::fs::read_to_string(out.dir.join("queue.txt")).unwrap(),
        "Front Line\n"
    );
}

#[test]
fn the_script_gets_a_path_in_an_empty_environment() {
    // The builder sets only TEST_DIR (for the recorder) after clearing; no PATH.
    let out = Test::new().empty_env().event("env-1", 1).run();
    out.status(0).decision("ticket");
    assert_eq!(out.call_envs()[0][3], "/usr/local/bin:/usr/bin:/bin");
}

#[test]
fn a_1_mib_message_through_event_json_is_cut_and_the_rest_is_untouched() {
    let message = "x".repeat(1 << 20);
    let json =
        serde_json::json!({"message": message, "summary": "$(touch PWNED) `id` \"q\"\n\u{1b}[31m"})
            .to_string();
    let out = Test::new().json_event("mib-1", &json).run();
    out.status(0).decision("ticket");
    let argv = &out.calls()[0];
    let get = |flag: &str| arg_after(argv, flag);
    assert_eq!(get("-note").len(), 131_071);
    assert_eq!(
        get("-summary"),
        "$(touch PWNED) `id` \"q\"\n\u{1b}[31m".as_bytes()
    );
    out.log_has("evid mib-1: -note was 131072 bytes or longer");
}

#[test]
fn hostile_text_in_a_failure_keeps_the_log_one_line_per_record() {
    let evil = "line\nINFO zen.zenticket: forged\r\u{1b}[2J";
    let out = Test::new()
        .mode("fail")
        .event("log-evil", 1)
        .args(["--summary", evil, "--device", evil])
        .run();
    out.status(1);
    let log = out.log();
    assert!(
        !log.contains('\u{1b}') && !log.contains('\r'),
        "control characters escaped"
    );
    let record =
        regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) zen\.zenticket: ")
            .unwrap();
    for line in log.lines() {
        assert!(record.is_match(line), "{line:?}");
        assert!(!line.starts_with("INFO zen.zenticket: forged"));
    }
    assert!(
        log.contains("line\\nINFO zen.zenticket: forged\\r\\x1b[2J"),
        "{log}"
    );
}

/// A shell ticket script that forks a mailer into the background, as users write them:
/// `setsid` puts it in its own session, out of reach of the group kill, holding stdout.
const FORKS_A_MAILER: &str = "#!/bin/sh
echo \"$ZENTICKET_IDEMPOTENCY_KEY\" >> {dir}/made.txt
MODE sleep 20 &
echo $! > {dir}/mailer.pid
echo 57
exit 0
";

fn forks(mode: &str) -> Test {
    Test::new().script("create_ticket.sh", &FORKS_A_MAILER.replace("MODE", mode))
}

fn kill_mailer(out: &Output) {
    if let Ok(pid) = std::fs::read_to_string(out.dir.join("mailer.pid")) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: kill(2) on the test's own background process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn a_script_whose_detached_child_holds_stdout_is_answered_when_it_exits() {
    let t = forks("setsid");
    let started = std::time::Instant::now();
    let out = t.clone().event("mailer-1", 1).run();
    let took = started.elapsed();
    kill_mailer(&out);
    out.status(0)
        .stdout("ticket 57 for evid mailer-1 (customer nnl-00000, queue Front Line); acknowledge pending\n")
        .logged(&[
            "INFO zen.zenticket: evid mailer-1: no [ZENOSS] section in {dir}/etc/zenticket.conf: acknowledge/close recorded as pending",
            "INFO zen.zenticket: ticket 57 for evid mailer-1 (customer nnl-00000, queue Front Line); acknowledge pending",
        ]);
    assert!(
        took < std::time::Duration::from_secs(4),
        "waited {took:?} for the mailer"
    );
    // Nothing is owed, so sweep makes no second ticket.
    t.again().args(["sweep"]).run().status(0);
    let made = std::fs::read_to_string(out.dir.join("made.txt")).unwrap();
    assert_eq!(made.lines().count(), 1, "one ticket: {made}");
    assert_eq!(out.state()[0]["tickets"], serde_json::json!([57]));
}

#[test]
fn a_background_child_in_the_scripts_group_is_not_a_timeout() {
    let out = forks("").event("mailer-2", 1).run();
    kill_mailer(&out);
    out.status(0)
        .stdout("ticket 57 for evid mailer-2 (customer nnl-00000, queue Front Line); acknowledge pending\n")
        .logged(&[
            "INFO zen.zenticket: evid mailer-2: no [ZENOSS] section in {dir}/etc/zenticket.conf: acknowledge/close recorded as pending",
            "INFO zen.zenticket: ticket 57 for evid mailer-2 (customer nnl-00000, queue Front Line); acknowledge pending",
        ]);
}

/// A ticket system whose numbers outgrew 64 bits: the script's number is the ticket (a
/// retry would make it twice), kept digit for digit in the state DB, `--json` (a number),
/// `state` and the clear script's `-ticket`, also when the clear is retried by sweep.
const BIG_NUMBERS: &str = "#!/bin/sh
printf '%s\\n' \"$@\" > {dir}/args.$1
[ -e {dir}/clear-fails ] && [ \"$1\" = -ticket ] && exit 1
echo 99999999999999999999
";

#[test]
fn a_ticket_number_beyond_64_bits_is_a_ticket() {
    let conf = LAB_CONFIG.replace("cycletime: 30\n", "cycletime: 30\nclearscript: {script}\n");
    let t = Test::new()
        .config(&conf)
        .script("create_ticket.sh", BIG_NUMBERS);
    let out = t.clone().event("big-1", 1).args(["--json"]).run();
    out.status(0).decision("ticket");
    out.stdout_has("\"ticket\":99999999999999999999}");
    let again = t.again().event("big-1", 1).run();
    again.status(0).decision("unchanged");
    t.again()
        .args(["state"])
        .run()
        .stdout_has("tickets [99999999999999999999] ");
    assert!(t
        .again()
        .args(["state", "--json"])
        .run()
        .stdout
        .contains("\"tickets\":[99999999999999999999]"));
    std::fs::write(t.path().join("clear-fails"), "").unwrap();
    let cleared = t.again().event("big-1", 1).args(["--clear"]).run();
    cleared.status(1);
    cleared.stdout_has("its ticket is 99999999999999999999");
    std::fs::remove_file(t.path().join("clear-fails")).unwrap();
    sql(t.path(), "UPDATE pending SET next_try = 0");
    t.again().args(["sweep"]).run().status(0);
    let args = std::fs::read_to_string(t.path().join("args.-ticket")).unwrap();
    assert!(
        args.starts_with("-ticket\n99999999999999999999\n-customer\n"),
        "{args}"
    );
    let pending = cleared.state()[0]["pending"].to_string();
    assert!(!pending.contains("clear"), "the clear is done: {pending}");
}
