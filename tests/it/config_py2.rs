//! The config reader against the reference itself: Python 2.7's ConfigParser, which the
//! daemon used. Every file in tests/data/configs must route identically (same customer
//! sections, ids, queues and groups) or fail in both.
//!
//! Needs Python 2.7 (`~/.pyenv/versions/2.7.18/bin/python2.7`, or `python2.7` on PATH, or
//! $PYTHON2); where it is absent the comparison is skipped with a message saying so, except under CI
//! (`CI` set), where it fails.
use crate::common::{python2, BIN};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn configs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("configs")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

#[test]
fn every_config_routes_as_python_2_read_it() {
    let Some(py) = python2("the config reader against Python 2.7's ConfigParser") else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/py2_routing.py");
    let mut compared = 0;
    for conf in configs() {
        let py_out = Command::new(&py)
            .arg(&script)
            .arg(&conf)
            .output()
            .expect("python");
        assert!(
            py_out.status.success(),
            "{}: {}",
            conf.display(),
            String::from_utf8_lossy(&py_out.stderr)
        );
        let want: Value = serde_json::from_slice(&py_out.stdout).expect("python json");
        let hook = Command::new(BIN)
            .args(["--json", "check-config", "--config"])
            .arg(&conf)
            .env("ZENHOME", "/opt/zenoss")
            .output()
            .expect("hook");
        let python_failed = want.get("error").is_some()
            || want["customers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c.get("error").is_some());
        if python_failed {
            assert_eq!(
                hook.status.code(),
                Some(2),
                "{}: Python 2 fails ({want}) but the hook accepted it",
                conf.display()
            );
            let err = String::from_utf8_lossy(&hook.stderr);
            assert!(
                err.contains(&conf.display().to_string()),
                "error must name the file: {err}"
            );
        } else {
            assert!(
                hook.status.success(),
                "{}: {}",
                conf.display(),
                String::from_utf8_lossy(&hook.stderr)
            );
            let got: Value = serde_json::from_slice(&hook.stdout).expect("hook json");
            let strip = |v: &Value| -> Vec<Value> {
                v["customers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        serde_json::json!({"section": c["section"], "id": c["id"], "queue": c["queue"], "groups": c["groups"]})
                    })
                    .collect()
            };
            assert_eq!(strip(&got), strip(&want), "{}", conf.display());
        }
        compared += 1;
    }
    assert!(compared >= 8, "compared {compared} configs");
}
