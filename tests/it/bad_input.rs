//! Input that must not poison an evid or a run, nor leak a secret: a config broken where
//! the state DB is named elsewhere, numbers out of range from any source, NUL bytes,
//! impossible times, a huge `--event-json`, credentials where they do not belong.
use crate::common::*;

#[test]
fn a_broken_config_records_the_event_in_the_db_it_names() {
    // A byte order mark and a line Python 2 refuses, with statedb on a persistent path.
    let conf = format!(
        "\u{feff}{}group6 /Security\n",
        LAB_CONFIG.replace("{dir}/var/zenticket.db", "{dir}/persistent/real.db")
    );
    let t = Test::new().config(&conf);
    let out = t.clone().event("bom-1", 1).run();
    out.status(2).stdout("").stderr(
        "zenticket-hook: {dir}/etc/zenticket.conf: line 1: \"\\u{feff}[GENERAL]\" comes before \
         any [section] header; evid bom-1 recorded in {dir}/persistent/real.db as pending for \
         `sweep`\n",
    );
    assert!(!out.dir.join("var").exists(), "nothing in the default DB");
    // Fixed, sweep (reading real.db) makes the ticket.
    let fixed = t
        .again()
        .config(&LAB_CONFIG.replace("{dir}/var/zenticket.db", "{dir}/persistent/real.db"))
        .general("retrydelay: 0");
    fixed.clone().args(["--json", "sweep"]).run().status(0);
    assert_eq!(out.calls().len(), 1, "the ticket is made");
    assert_eq!(arg_after(&out.calls()[0], "-count"), b"1");
}

#[test]
fn sweep_warns_of_events_waiting_in_the_default_db() {
    // [GENERAL] itself unreadable: the event goes to the default DB, and says so.
    let t = Test::new().config("[GENERAL\nstatedb: {dir}/persistent/real.db\n");
    let out = t.clone().event("lost-1", 1).run();
    out.status(2);
    assert!(
        out.stderr.ends_with(&format!(
            "; evid lost-1 recorded in {}/var/zenticket.db (the default: [GENERAL] statedb could \
             not be read from the broken config; if it names another DB, move this event there \
             by calling the hook again once the config is fixed) as pending for `sweep`\n",
            out.dir.display()
        )),
        "{}",
        out.stderr
    );
    let s = t
        .again()
        .config(&LAB_CONFIG.replace("{dir}/var/zenticket.db", "{dir}/persistent/real.db"))
        .args(["--json", "sweep"])
        .run();
    s.status(0);
    assert_eq!(
        s.json()["notes"][0],
        format!(
            "1 piece(s) of owed work wait in {d}/var/zenticket.db (recorded there while the \
             config could not be read), not in the statedb {d}/persistent/real.db this config \
             names: run `zenticket-hook --config <a config with statedb: {d}/var/zenticket.db> \
             sweep` once, or move them",
            d = out.dir.display()
        )
    );
}

#[test]
fn numbers_out_of_range_are_refused_from_every_source() {
    for (json, line) in [
        (r#"{"count": 1e19}"#, "--event-json -: count: 1e+19 is not a whole number in range"),
        (r#"{"count": -3}"#, "--count must be 0 or more"),
        (r#"{"severity": 99}"#, "--severity must be 0..5 (0 Clear .. 5 Critical)"),
        (
            r#"{"eventState": 9}"#,
            "--event-state must be 0..6 (0 New, 1 Acknowledged, 2 Suppressed, 3 Closed, 4 Cleared, 5 Dropped, 6 Aged)",
        ),
    ] {
        let out = Test::new()
            .args(["--evid", "range-1", "--event-json", "-"])
            .stdin(json.as_bytes())
            .run();
        out.status(2)
            .stdout("")
            .stderr(&format!("zenticket-hook: {line}\n"));
        assert!(!out.dir.join("var").exists(), "{json}: nothing stored");
    }
}

#[test]
fn a_nul_byte_in_event_text_is_passed_as_backslash_zero_and_ticketed() {
    let out = Test::new()
        .json_event(
            "nul-1",
            r#"{"summary": "disk\u0000full", "message": "a\u0000b\u0000"}"#,
        )
        .run();
    out.status(0).stdout(
        "ticket 1001 for evid nul-1 (customer nnl-00000, queue Front Line); acknowledge pending\n",
    );
    let call = &out.calls()[0];
    assert_eq!(arg_after(call, "-summary"), b"disk\\0full");
    assert_eq!(arg_after(call, "-note"), b"a\\0b\\0");
    let lines = out.log_lines();
    assert_eq!(
        lines[..2],
        [
            "WARNING zen.zenticket: evid nul-1: -summary held NUL bytes, which no argument can carry; each is passed as \\0",
            "WARNING zen.zenticket: evid nul-1: -note held NUL bytes, which no argument can carry; each is passed as \\0",
        ]
    );
}

#[test]
fn impossible_times_are_usage_errors_naming_the_option() {
    for (args, line) in [
        (
            vec!["--last-time", "99999999999999999999"],
            "--last-time: \"99999999999999999999\" is not a time (as epoch seconds or milliseconds it is after the year 9999)",
        ),
        (
            vec!["--first-time", "2024-02-30 10:00:00"],
            "--first-time: \"2024-02-30 10:00:00\" is not a time (expected `2009/11/18 16:45:33.000`, ISO 8601, or epoch seconds or milliseconds)",
        ),
        (
            vec!["--last-time", "2024-04-30T10:00:00+99:99"],
            "--last-time: \"2024-04-30T10:00:00+99:99\" is not a time (expected `2009/11/18 16:45:33.000`, ISO 8601, or epoch seconds or milliseconds)",
        ),
    ] {
        let out = Test::new().bare("time-1", 1, 0).args(&args).run();
        out.status(2)
            .stdout("")
            .stderr(&format!("zenticket-hook: {line}\n"));
    }
    // Through --event-json too, in the same words.
    let out = Test::new()
        .bare("time-2", 1, 0)
        .args(["--event-json", "-"])
        .stdin(br#"{"lastTime": "2024-02-30 10:00:00"}"#)
        .run();
    out.status(2).stderr(
        "zenticket-hook: --last-time: \"2024-02-30 10:00:00\" is not a time (expected \
         `2009/11/18 16:45:33.000`, ISO 8601, or epoch seconds or milliseconds)\n",
    );
}

#[test]
fn event_json_is_bounded_and_unused_keys_are_not_kept() {
    let big = vec![b' '; (16 << 20) + 1];
    let out = Test::new()
        .args(["--evid", "big-1", "--event-json", "-"])
        .stdin(&big)
        .run();
    out.status(2)
        .stdout("")
        .stderr("zenticket-hook: --event-json -: larger than 16 MiB; one event is a few KiB\n");
    // 400,000 keys the hook does not use: read, skipped, and the event ticketed.
    let mut json = String::from("{");
    for i in 0..400_000 {
        json.push_str(&format!("\"k{i}\":{i},"));
    }
    json.push_str("\"summary\":\"kept\"}");
    let out = Test::new().json_event("keys-1", &json).run();
    out.status(0);
    assert_eq!(arg_after(&out.calls()[0], "-summary"), b"kept");
}

#[test]
fn credentials_in_the_zenoss_url_are_refused_without_echoing_them() {
    let conf = format!("{LAB_CONFIG}\n[ZENOSS]\nurl: http://admin:S3cret@127.0.0.1:9\n");
    let out = Test::new().config(&conf).args(["check-config"]).run();
    out.status(2).stdout("").stderr(
        "error: {dir}/etc/zenticket.conf:19: [ZENOSS] url: carries a user or password \
         (`user:password@host`), which would show in every message naming the URL: give the bare \
         URL, and the credentials as `user` and `password` (or `passwordfile`)\n\
         zenticket-hook: {dir}/etc/zenticket.conf: 1 error(s)\n",
    );
}

#[test]
fn a_password_line_without_its_colon_is_not_echoed() {
    let conf =
        format!("{LAB_CONFIG}\n[ZENOSS]\nurl: http://127.0.0.1:9\nuser: admin\npassword S3cret\n");
    let out = Test::new().config(&conf).args(["check-config"]).run();
    out.status(2).stdout("").stderr(
        "error: {dir}/etc/zenticket.conf: cannot parse line 21: \"password ... (value hidden: it \
         may be a secret)\" (expected `key: value`, `key = value` or `[section]`)\n\
         zenticket-hook: {dir}/etc/zenticket.conf: 1 error(s)\n",
    );
}

#[test]
fn a_passwordfile_that_is_a_folder_says_so() {
    let t = Test::new();
    std::fs::create_dir_all(t.path().join("secrets")).unwrap();
    let conf = format!(
        "{LAB_CONFIG}\n[ZENOSS]\nurl: http://127.0.0.1:9\nuser: admin\npasswordfile: {{dir}}/secrets\n"
    );
    let out = t.config(&conf).args(["check-config"]).run();
    out.status(2).stdout("").stderr(
        "error: {dir}/etc/zenticket.conf:21: [ZENOSS] passwordfile: {dir}/secrets is a folder, \
         not a file: name the file that holds the password\n\
         zenticket-hook: {dir}/etc/zenticket.conf: 1 error(s)\n",
    );
}

#[test]
fn a_statedb_url_is_never_taken_for_a_path() {
    for (url, why) in [
        (
            "mysql://zenticket@127.0.0.1:3306/zenoss_zenticket\nstatedbpasswordfile: /nonexistent",
            "statedbpasswordfile: cannot read /nonexistent: No such file or directory (os error 2)",
        ),
        (
            "mysql://zenticket@127.0.0.1:3306/zenoss_zenticket",
            "statedbpasswordfile: must name the file holding the password of the statedb's \
             user (statedb is a mysql:// URL)",
        ),
        (
            "mysql://zenticket:hunter2@127.0.0.1:3306/zenoss_zenticket\nstatedbpasswordfile: /nonexistent",
            "statedb: holds a password: keep it in statedbpasswordfile, never in the URL (the \
             URL is shown in logs and `status`)",
        ),
        (
            "redis://127.0.0.1/0",
            "statedb: redis:// is not a state DB this tool knows: give a path (SQLite) or \
             mysql://USER@HOST:PORT/DATABASE (MariaDB/MySQL)",
        ),
    ] {
        let conf = LAB_CONFIG.replace(
            "statedb: {dir}/var/zenticket.db",
            &format!("statedb: {url}"),
        );
        let t = Test::new().config(&conf);
        t.clone()
            .args(["check-config"])
            .run()
            .status(2)
            .stderr_has(&format!("[GENERAL] {why}\n"))
            .stderr_lacks("hunter2");
        // A hook with this config still records its event, in the default state DB, and
        // makes no file named after the URL.
        let out = t.again().event("url-1", 1).run();
        out.status(2);
        assert!(t.path().join("var/zenticket.db").exists(), "{}", out.stderr);
        let stray: Vec<_> = std::fs::read_dir(t.path().join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "zenticket.conf")
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
}

#[test]
fn a_zenoss_api_key_with_a_continuation_line_is_refused_never_shown() {
    let conf = format!(
        "{LAB_CONFIG}\n[ZENOSS]\nurl: https://tenant.zenoss.io/cz0\napikey: k3y-PART1\n  k3y-PART2\n"
    );
    let out = Test::new().config(&conf).args(["check-config"]).run();
    out.status(2).stderr_has(
        "[ZENOSS] apikey: holds a control character (a line break: a continuation line?) a \
         header cannot carry (the content is not shown)\n",
    );
    assert!(!out.stderr.contains("k3y-PART"), "{}", out.stderr);
}

#[test]
fn an_empty_secret_file_is_a_config_error_for_every_system() {
    // (ticketsystem, its section with `{file}` for the secret file, the key)
    let systems = [
        ("servicenow", "[SERVICENOW]\nurl: https://x.service-now.com\nuser: u\npasswordfile: {file}\n", "passwordfile"),
        ("webhook", "[WEBHOOK]\nurl: https://hooks.example.com/z\ntokenfile: {file}\n", "tokenfile"),
        ("jira", "[JIRA]\nurl: https://x.atlassian.net\nuser: u@x\ntokenfile: {file}\nproject: OPS\n", "tokenfile"),
        ("connectwise", "[CONNECTWISE]\nurl: https://cw.example.com\ncompany: c\npublickey: p\nprivatekeyfile: {file}\nclientid: id\n", "privatekeyfile"),
        ("autotask", "[AUTOTASK]\nurl: https://webservices1.autotask.net/atservicesrest\nuser: u\nsecretfile: {file}\nintegrationcode: i\n", "secretfile"),
    ];
    for (system, section, key) in systems {
        let t = Test::new().general(&format!("ticketsystem: {system}"));
        let file = t.path().join("empty.secret");
        std::fs::write(&file, "\n").unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let out = t
            .section(&section.replace("{file}", &file.display().to_string()))
            .args(["check-config"])
            .run();
        out.status(2).stderr_has(&format!(
            "] {key}: {} is empty (its first line holds no secret)\n",
            file.display()
        ));
    }
}
