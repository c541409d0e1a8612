//! The ZenPack: its Python compiles (Zenoss's Python 2.7 and Python 3), actions.json has
//! exactly the shape Zenoss's loader reads, and the notification's commands, rendered as
//! Zenoss renders TALES and run through `/bin/sh -c` (dash, and bash as sh) with an empty
//! environment as zenactiond runs them, reach the real binary, which fetches the event
//! from the Zenoss test server and hands every hostile field byte for byte to the script.
//!
//! The Python 2.7 compile check needs `~/.pyenv/versions/2.7.18/bin/python2.7` (or
//! $PYTHON2, or python2.7 on PATH) and is skipped, saying so, where it is absent (and fails under CI).
use crate::common::zenoss::{Version, ZEvent, Zenoss};
use crate::common::*;
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("zenpack")
}

fn actions() -> Value {
    let text =
        std::fs::read_to_string(pack().join("ZenPacks/community/ZenTicket/zep/actions.json"))
            .unwrap();
    serde_json::from_str(&text)
        .expect("actions.json is plain JSON (the loader uses json.load: no comments)")
}

fn python_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "py") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&pack(), &mut v);
    v
}

fn compiles_with(python: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    for f in python_files() {
        let out = Command::new(python)
            .args(["-c", "import sys, py_compile; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)"])
            .arg(&f)
            .arg(tmp.path().join("x.pyc"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{} under {}: {}",
            f.display(),
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn python_compiles_under_python_2_7_and_3() {
    assert!(python_files().len() >= 4);
    compiles_with(Path::new("python3"));
    if let Some(py2) = python2("the ZenPack compiled as Zenoss's Python would") {
        compiles_with(&py2);
    }
}

#[test]
fn namespace_packages_and_manifest_are_the_templates() {
    for ns in ["ZenPacks/__init__.py", "ZenPacks/community/__init__.py"] {
        let text = std::fs::read_to_string(pack().join(ns)).unwrap();
        assert_eq!(
            text.trim(),
            "__import__('pkg_resources').declare_namespace(__name__)",
            "{ns}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(pack().join("MANIFEST.in"))
            .unwrap()
            .trim(),
        "graft ZenPacks"
    );
    let setup = std::fs::read_to_string(pack().join("setup.py")).unwrap();
    for line in [
        "NAME = 'ZenPacks.community.ZenTicket'",
        "COMPAT_ZENOSS_VERS = '>=4.2'",
        "NAMESPACE_PACKAGES = ['ZenPacks', 'ZenPacks.community']",
        "include_package_data=True",
        "'zenoss.zenpacks': '%s = %s' % (NAME, NAME)",
        "zip_safe=False",
    ] {
        assert!(setup.contains(line), "setup.py lacks {line}");
    }
    let init =
        std::fs::read_to_string(pack().join("ZenPacks/community/ZenTicket/__init__.py")).unwrap();
    assert!(init.contains("def remove(self, app, leaveObjects=False):"));
    assert!(
        init.contains("if not leaveObjects:"),
        "an upgrade must keep the trigger and notification"
    );
    assert!(
        init.contains("self.installBinFile(BINARY)"),
        "4.2-5.1 need the bin link made by install()"
    );
    assert!(init.contains(&format!(
        "TRIGGER_UUID = '{}'",
        actions()["triggers"][0]["uuid"].as_str().unwrap()
    )));
    assert!(pack()
        .join("ZenPacks/community/ZenTicket/etc/zenticket.conf")
        .exists());
}

#[test]
fn actions_json_has_every_key_the_loader_reads() {
    let a = actions();
    let t = &a["triggers"][0];
    assert_eq!(a["triggers"].as_array().unwrap().len(), 1);
    assert!(t["name"].is_string() && t["enabled"] == true);
    let uuid = t["uuid"].as_str().unwrap();
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c) || c == '-')
    };
    assert!(is_uuid(uuid), "lowercase uuid: {uuid}");
    assert_eq!(t["rule"]["api_version"], 1);
    assert_eq!(t["rule"]["type"], 1);
    let source = t["rule"]["source"].as_str().unwrap();
    assert!(
        !source.trim_start().starts_with("lambda"),
        "source is a lambda's body"
    );
    for part in [
        "dev.production_state == 1000",
        "evt.severity >= 3",
        "evt.status in (0, 1)",
        "/Cmd/Failed",
        "/App/Failed",
        "/App/Zenticket",
    ] {
        assert!(source.contains(part), "rule lacks {part}");
    }
    // The rule as zeneventd evaluates it (a Python expression over `dev` and `evt`): the
    // tool's own events never become tickets through the tool.
    let program = format!(
        "class O(object):\n    def __init__(s, **k): s.__dict__.update(k)\n\
         dev = O(production_state=1000)\n\
         for cls in ['/Net/Link', '/App/Zenticket', '/Cmd/Failed', '/App/Failed/x']:\n\
         \x20   evt = O(severity=4, status=0, event_class=cls)\n\
         \x20   print(cls, bool({source}))\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&program)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/Net/Link True\n/App/Zenticket False\n/Cmd/Failed False\n/App/Failed/x False\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = &a["notifications"][0];
    assert!(is_uuid(n["guid"].as_str().unwrap()));
    assert_eq!(n["action"], "command");
    for (key, want) in [
        ("enabled", true),
        ("send_clear", true),
        ("send_initial_occurrence", false),
    ] {
        assert_eq!(n[key], want, "{key}");
    }
    for key in ["delay_seconds", "repeat_seconds", "action_timeout"] {
        assert!(
            n[key].is_u64(),
            "{key} must be given (missing ones become None)"
        );
    }
    assert_eq!(n["subscriptions"], serde_json::json!([uuid]));
    assert!(n["recipients"].is_array() && n["user_env_format"].is_string());
    let body = n["body_format"].as_str().unwrap();
    let clear = n["clear_body_format"].as_str().unwrap();
    assert!(
        body.starts_with("exec "),
        "exec, so zenactiond's SIGKILL reaches the hook"
    );
    assert_eq!(clear, format!("{body} --clear"));
    // Only Zenoss-generated values on the shell line.
    let paths: Vec<&str> = body
        .split("${")
        .skip(1)
        .map(|p| p.split('}').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["evt/evid", "evt/count", "evt/eventState", "evt/severity"]
    );
    assert!(
        n["content"].is_null(),
        "command keys are top level, not under content"
    );
    // The hook must finish before zenactiond kills it: scripttimeout 45 < action_timeout.
    assert!(n["action_timeout"].as_u64().unwrap() > 45);
}

/// Zenoss's TALES `string:` rendering of a command body: `${evt/x}` path lookups, `$$` for
/// a literal `$`, None as `None`; any other `$` does not compile.
fn render(body: &str, evt: &Value) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').expect("unclosed ${");
            let path = &r[..end];
            let name = path.strip_prefix("evt/").expect("evt path");
            match &evt[name] {
                Value::Null => out.push_str("None"),
                Value::String(s) => out.push_str(s),
                v => out.push_str(&v.to_string()),
            }
            rest = &r[end + 1..];
        } else {
            panic!("TALES compile error: lone $ in {body:?}");
        }
    }
    out.push_str(rest);
    out
}

fn hostile(evid: &str) -> ZEvent {
    let mut e = ZEvent::new(evid);
    e.device = "$(touch PWNED)".into();
    e.component = "`touch PWNED`".into();
    e.summary = "\"; touch PWNED; echo \"".into();
    e.message = "first line\nsecond; touch PWNED\nends with a backslash \\".into();
    e.ip = "10.0.0.1'".into();
    e
}

fn run_as_zenactiond(shell: &str, command: &str, cwd: &Path) -> std::process::Output {
    let mut cmd = Command::new(shell);
    if shell == "bash" {
        cmd.arg0("sh"); // bash as /bin/sh
    }
    cmd.arg("-c")
        .arg(command)
        .env_clear()
        .current_dir(cwd)
        .output()
        .expect("shell")
}

#[test]
fn the_notification_runs_the_hook_safely_under_dash_and_bash() {
    let a = actions();
    let n = &a["notifications"][0];
    let z = Zenoss::start(Version::V6);
    let recorder = RECORDER.replace(
        "my $dir = $ENV{TEST_DIR} or die \"no TEST_DIR\";",
        "my $dir = '{dir}';",
    );
    let t = Test::new().script("create_ticket.pl", &recorder).zenoss(&z);
    t.prepare(); // write config and script
    let localize = |s: &str| {
        s.replace("/opt/zenoss/bin/zenticket-hook", BIN).replace(
            "/opt/zenoss/etc/zenticket.conf",
            &t.config_path().display().to_string(),
        )
    };
    for (i, shell) in ["dash", "bash"].iter().enumerate() {
        let evid = format!("0242ac11-0008-8a4b-11ee-5f1e2d7c9a1{i}");
        let ev = hostile(&evid);
        z.add(ev.clone());
        let evt = serde_json::json!({"evid": evid, "count": 1, "eventState": 0, "severity": 4, "summary": ev.summary, "device": ev.device});
        let command = localize(&render(n["body_format"].as_str().unwrap(), &evt));
        assert!(
            !command.contains("touch"),
            "no event text on the shell line: {command}"
        );
        let out = run_as_zenactiond(shell, &command, t.path());
        assert!(
            out.status.success(),
            "{shell}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout)
            .starts_with(&format!("ticket {} for evid {evid}", 1001 + i)));
        let argv = &calls(t.path())[i];
        let get = |flag: &str| arg_after(argv, flag);
        assert_eq!(get("-device"), ev.device.as_bytes());
        assert_eq!(get("-component"), ev.component.as_bytes());
        assert_eq!(get("-summary"), ev.summary.as_bytes());
        assert_eq!(get("-note"), ev.message.as_bytes());
        assert_eq!(get("-deviceIP"), ev.ip.as_bytes());
        assert_eq!(z.event(&evid).unwrap().state, 1, "acknowledged");
        // The clear command, as zenactiond renders it for the closed event.
        let evt = serde_json::json!({"evid": evid, "count": 1, "eventState": 4, "severity": 4});
        let clear = localize(&render(n["clear_body_format"].as_str().unwrap(), &evt));
        let out = run_as_zenactiond(shell, &clear, t.path());
        assert!(
            out.status.success(),
            "{shell} clear: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(&format!("cleared for evid {evid}"))
        );
    }
    assert!(!t.path().join("PWNED").exists(), "event text ran as code");
    assert_eq!(z.danger(), 0);
}

#[test]
fn event_text_on_the_command_line_would_run_as_code() {
    // Why the notification passes no text field: zenactiond only wraps summary in weak
    // double quotes, so $(...) inside it still runs.
    let t = Test::new();
    std::fs::create_dir_all(t.path()).unwrap();
    let naive = "echo \"${evt/summary}\" > /dev/null";
    let wrapped = format!("\"{}\"", "$(touch PWNED)".replace('"', "\\\""));
    let evt = serde_json::json!({"summary": wrapped});
    let command = render(naive, &evt);
    run_as_zenactiond("dash", &command, t.path());
    assert!(
        t.path().join("PWNED").exists(),
        "the hazard is real: {command}"
    );
}

/// The fields of a ZEvent as the action harness builds its EventSummary from them (text as
/// base64, so bytes that are not UTF-8 pass too).
fn harness_fields(e: &ZEvent, summary: &[u8]) -> Value {
    let b = |s: &[u8]| crate::common::zenoss::b64(s);
    serde_json::json!({
        "evid": e.evid, "count": e.count, "state": e.state, "severity": e.severity,
        "prodState": e.prod_state.unwrap_or(1000), "priority": e.priority,
        "device": b(e.device.as_bytes()), "component": b(e.component.as_bytes()),
        "summary": b(summary), "message": b(e.message.as_bytes()),
        "eventClass": b(e.event_class.as_bytes()), "ip": b(e.ip.as_bytes()),
        "deviceClass": b(e.device_class.as_bytes()),
        "groups": e.groups.iter().map(|g| b(g.as_bytes())).collect::<Vec<_>>(),
        "first": e.first_time, "last": e.last_time,
    })
}

/// Runs the action harness (Python 2.7, stand-ins following Zenoss's code) for one event
/// in `t`'s folder (its ZENHOME); None where Python 2.7 is absent.
fn run_action(t: &Test, fields: &Value, mode: &str, ticket_mode: &str) -> Option<Value> {
    let py = python2("the zenticket action under zenactiond")?;
    t.prepare();
    let home = t.path();
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let _ = std::fs::remove_file(home.join("bin/zenticket-hook"));
    std::os::unix::fs::symlink(BIN, home.join("bin/zenticket-hook")).unwrap();
    let f = home.join("fields.json");
    std::fs::write(&f, fields.to_string()).unwrap();
    let out = Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zenpack_action.py"))
        .arg(pack())
        .arg(home)
        .arg(&f)
        .arg(mode)
        .env("TEST_DIR", home)
        .env("TICKET_MODE", ticket_mode)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("the harness's JSON"))
}

/// The native action: the hook's argv has no shell, the event file is private and gone
/// afterwards, the signal is unchanged, every hostile field reaches the script byte for
/// byte, and the script gets exactly what the command notification plus `detail` gives it.
#[test]
fn the_native_action_hands_the_whole_event_to_the_hook_with_no_shell() {
    let evid = "0242ac11-0008-8a4b-11ee-5f1e2d7c9b01";
    let mut ev = hostile(evid);
    ev.message = format!("{}\n{}", ev.message, "x".repeat(100 * 1024));
    let z = Zenoss::start(Version::V6);
    z.add(ev.clone());
    let native = Test::new().zenoss(&z);
    let Some(out) = run_action(
        &native,
        &harness_fields(&ev, ev.summary.as_bytes()),
        "new",
        "counter",
    ) else {
        return;
    };
    assert!(
        !z.methods().contains(&"detail".to_string()),
        "the JSON is the whole event: no fetch ({:?})",
        z.methods()
    );
    let q = &out["queued"][0];
    let conf = native.config_path().display().to_string();
    let home = native.path().display().to_string();
    let args: Vec<String> = q["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        args[..4],
        [
            format!("{home}/bin/zenticket-hook"),
            "--config".into(),
            conf,
            "--event-json".into()
        ]
    );
    assert_eq!(args.len(), 5, "no --clear, no shell: {args:?}");
    assert_eq!(q["file_mode"], "0600");
    assert_eq!(out["spool_mode"], "0700");
    assert_eq!(
        out["spool_left"],
        serde_json::json!([]),
        "the event's file is removed"
    );
    assert_eq!(out["signal_unchanged"], true);
    assert_eq!(
        out["parallel"], 3,
        "zenactiond's maxCommands caps the hooks at once"
    );
    let sent: Value = serde_json::from_str(q["event_json"].as_str().unwrap()).unwrap();
    assert_eq!(sent["summary"], ev.summary);
    assert_eq!(sent["message"], ev.message);
    assert_eq!(sent["device"], ev.device);
    assert_eq!(sent["DeviceGroups"], "|/Network");
    assert!(sent.get("zenticket_raw").is_none(), "all of it is UTF-8");
    // The same event through the command notification: `detail` from Zenoss.
    z.add(ev.clone());
    let fetched = Test::new()
        .zenoss(&z)
        .bare(evid, 1, 0)
        .args(["--severity", "4"])
        .run();
    fetched.status(0);
    assert_eq!(
        calls(native.path()),
        calls(fetched.dir.as_path()),
        "the script gets the same argv by either path"
    );
    assert!(!native.path().join("PWNED").exists());
}

#[test]
fn the_native_action_passes_bytes_that_are_not_utf8_and_clears_and_times_out() {
    let ev = ZEvent::new("0242ac11-0008-8a4b-11ee-5f1e2d7c9b02");
    let summary = b"caf\xe9 \xff$(touch PWNED) \"q\"";
    let t = Test::new();
    let Some(out) = run_action(&t, &harness_fields(&ev, summary), "new", "counter") else {
        return;
    };
    let sent: Value =
        serde_json::from_str(out["queued"][0]["event_json"].as_str().unwrap()).unwrap();
    assert_eq!(
        sent["zenticket_raw"]["summary"],
        crate::common::zenoss::b64(summary)
    );
    assert_eq!(
        arg_after(&calls(t.path())[0], "-summary"),
        summary,
        "byte for byte"
    );
    // The clear signal: --clear, and the clear goes through as for the command.
    let out = run_action(&t, &harness_fields(&ev, summary), "clear", "counter").unwrap();
    let args = out["queued"][0]["args"].as_array().unwrap();
    assert_eq!(args.last().unwrap(), "--clear");
    // A hook held past the action's timeout is killed; its file is removed all the same,
    // and Zenoss users see that it failed.
    let slow = Test::new();
    let out = run_action(&slow, &harness_fields(&ev, summary), "timeout", "hang").unwrap();
    assert_eq!(out["queued"][0]["timeout"], 1);
    assert_eq!(out["spool_left"], serde_json::json!([]));
    let events = out["events"].as_array().unwrap();
    assert_eq!(events[0]["summary"], "zenticket zenticket-hook timed out");
    assert_eq!(events.last().unwrap()["eventClass"], "/Cmd/Failed");
    assert_eq!(events.last().unwrap()["severity"], 4);
}

/// How install() chooses: the native action on a first install where Zenoss has its API,
/// the command notification where it has not, and on an upgrade whatever the notification
/// has (the administrator's choice); use_action() switches either way, keeping the command.
#[test]
fn install_chooses_the_native_action_on_a_first_install_and_an_upgrade_keeps_the_choice() {
    let t = Test::new();
    let Some(out) = run_action(
        &t,
        &harness_fields(&ZEvent::new("x"), b"s"),
        "choose",
        "counter",
    ) else {
        return;
    };
    assert_eq!(
        out,
        serde_json::json!({
            "first install": ["zenticket", "", ["zenticket"]],
            "upgrade, command kept": "command",
            "upgrade, native kept": "zenticket",
            "old zenoss": "command",
            "switched": ["zenticket", "/etc/zt.conf"],
            "switched back": ["command", true],
        })
    );
}

/// The native action never fails quietly: what cannot be handed to the hook raises
/// ActionExecutionException (zenactiond logs a failed notification) and leaves no file;
/// a config path that is not ASCII reaches the hook as bytes (Twisted's spawnProcess
/// refuses it otherwise, after the queue took a slot it never gives back); configure()
/// removes the files of hooks an earlier zenactiond left.
#[test]
fn the_native_action_raises_what_it_cannot_hand_over_and_leaves_no_file_or_slot() {
    let ev = ZEvent::new("0242ac11-0008-8a4b-11ee-5f1e2d7c9b03");
    let fields = harness_fields(&ev, b"s");
    let t = Test::new();
    let Some(out) = run_action(&t, &fields, "badtimeout", "counter") else {
        return;
    };
    assert_eq!(
        (&out["raised"], &out["spool_left"], &out["queued"]),
        (
            &serde_json::json!([
                "ActionExecutionException",
                "zenticket: cannot hand evid 0242ac11-0008-8a4b-11ee-5f1e2d7c9b03 to \
                 zenticket-hook: action_timeout 'sixty' is not a whole number of seconds"
            ]),
            &serde_json::json!([]),
            &serde_json::json!([])
        )
    );
    let t = Test::new();
    let out = run_action(&t, &fields, "nospool", "counter").unwrap();
    assert_eq!(out["raised"][0], "ActionExecutionException", "{out}");
    assert_eq!(out["queued"], serde_json::json!([]));
    let t = Test::new();
    let out = run_action(&t, &fields, "unicodeconfig", "counter").unwrap();
    assert_eq!(
        (&out["raised"], &out["running"], &out["spool_left"]),
        (&Value::Null, &serde_json::json!(0), &serde_json::json!([])),
        "{out}"
    );
    let conf = t
        .path()
        .join("etc/zentick\u{e9}t.conf")
        .display()
        .to_string();
    assert_eq!(out["queued"][0]["args"][2], conf.as_str());
    assert_eq!(calls(t.path()).len(), 1, "the hook ran and made the ticket");
    let t = Test::new();
    let out = run_action(&t, &fields, "stale", "counter").unwrap();
    assert_eq!(
        out["spool_left"],
        serde_json::json!(["event-now.json", "notes.txt"]),
        "only the old event file is removed"
    );
}

/// The action as the notification editor and an upgrade meet it: its form's fields carry
/// the `xtype` Zenoss's form builder renders (Zenoss's own field classes); updateContent
/// keeps what it was not sent (4.2.5 to 5.1 would copy a missing field as None); and an
/// upgrade, whose loader resets the notification from actions.json, keeps the
/// administrator's settings, telling ZEP the subscription's delay again.
#[test]
fn the_notification_editor_works_and_an_upgrade_keeps_the_administrators_settings() {
    let t = Test::new();
    let fields = harness_fields(&ZEvent::new("x"), b"s");
    let Some(form) = run_action(&t, &fields, "form", "counter") else {
        return;
    };
    assert_eq!(
        form,
        serde_json::json!({"action_timeout": "numberfield", "config": "textfield"})
    );
    let update = run_action(&t, &fields, "update", "counter").unwrap();
    assert_eq!(
        update,
        serde_json::json!({
            "loader": {"action_timeout": 120, "body_format": "exec ...",
                       "config": "/var/zenoss/zenticket/zenticket.conf"},
            "form": {"action_timeout": 30, "body_format": "exec ...", "config": "/etc/other.conf"},
        })
    );
    let upgrade = run_action(&t, &fields, "upgrade", "counter").unwrap();
    assert_eq!(
        upgrade,
        serde_json::json!({
            "settings": [false, false, true, 300, 3600, [{"type": "user", "value": "admin-guid"}]],
            "content": ["/var/zenoss/zenticket/zenticket.conf", 120],
            "commands are the pack's": true,
            "zep told": [300],
        })
    );
}

/// On Control Center every file the config names (set or offered in a comment) is on the
/// shared volume: a file in the image exists in one container only, lost at its restart.
#[test]
fn the_control_center_config_names_only_files_on_the_shared_volume() {
    let text = std::fs::read_to_string(
        pack().join("ZenPacks/community/ZenTicket/etc/zenticket-controlcenter.conf"),
    )
    .unwrap();
    let key_path = regex::Regex::new(r"^#?\s*([a-z]+)\s*[:=]\s*(/\S*)").unwrap();
    let paths: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| key_path.captures(l))
        // A URL in a comment ("http://...") is no file.
        .filter(|c| !c[2].starts_with("//"))
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    assert!(paths.iter().any(|(k, _)| k == "passwordfile"), "{paths:?}");
    let outside: Vec<&(String, String)> = paths
        .iter()
        .filter(|(_, p)| !p.starts_with("/var/zenoss/zenticket/"))
        .collect();
    assert_eq!(outside, Vec::<&(String, String)>::new());
}

/// zep/zep.json as Zenoss's loader reads it (ZenPackLoader.ZPZep, each line cut at its
/// first `//`): one indexed detail, the console's "Ticket" column, a string.
#[test]
fn zep_json_indexes_the_ticket_as_the_loader_reads_it() {
    let Some(py) = python2("zep/zep.json as the pack loader reads it") else {
        return;
    };
    let out = Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zenpack_zep.py"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("zenpack"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[{\"key\": \"zenticket.ticket\", \"name\": \"Ticket\", \"type\": 1}]\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
