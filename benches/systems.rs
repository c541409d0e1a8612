//! A new event through the ServiceNow adapter against the ServiceNow test server on
//! 127.0.0.1, against the two ways a site would do it without the adapter, measured in the
//! same run: a minimal ticket script that makes the same POST with curl (the hook plus a
//! shell plus curl), and one bare POST by curl alone (the floor: the request itself).
//! Prints medians and ratios.
//!
//!     cargo bench --bench systems            # ROUNDS=100 cargo bench --bench systems

mod common;

#[allow(dead_code)]
#[path = "../tests/it/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/it/common/servicenow.rs"]
mod servicenow;
#[allow(dead_code)]
#[path = "../tests/it/common/zenoss.rs"]
mod zenoss;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn time(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let st = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(st.success(), "{cmd:?} failed");
    start.elapsed()
}

fn median(rounds: usize, mut make: impl FnMut(usize) -> Command) -> Duration {
    let mut t: Vec<Duration> = (0..rounds).map(|i| time(make(i))).collect();
    t.sort();
    t[rounds / 2]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let sn = servicenow::ServiceNow::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let url = format!(
        "{}/api/now/table/incident?sysparm_input_display_value=true",
        sn.server.url
    );
    let auth = format!("{}:{}", servicenow::USER, servicenow::PASSWORD);
    // The script a site would write: the same POST by curl, the number parsed from it.
    let script = d.join("snow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncurl -s -u '{auth}' -H 'Content-Type: application/json' -d \
             \"{{\\\"short_description\\\":\\\"down\\\",\\\"correlation_id\\\":\\\"$ZENTICKET_IDEMPOTENCY_KEY\\\"}}\" \
             '{url}' | sed -n 's/.*\"number\":\"INC0*\\([0-9]*\\)\".*/\\1/p'\n"
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let base = |db: &str| {
        format!(
            "[GENERAL]\nstatedb: {}/{db}.db\nlogfile: {}/{db}.log\ncollector: bench.example.com\n\n[LAB]\nid: nnl-00000\nqueue: Front Line\ngroup1: /Network\n",
            d.display(),
            d.display()
        )
    };
    let conf_adapter = d.join("adapter.conf");
    std::fs::write(
        &conf_adapter,
        base("adapter").replace("[GENERAL]\n", "[GENERAL]\nticketsystem: servicenow\n")
            + "\n"
            + &sn.section(),
    )
    .expect("config");
    let conf_script = d.join("script.conf");
    std::fs::write(
        &conf_script,
        base("script").replace(
            "[GENERAL]\n",
            &format!("[GENERAL]\nticketscript: {}\n", script.display()),
        ),
    )
    .expect("config");

    let bare = median(rounds, |i| {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-o",
            "/dev/null",
            "-u",
            &auth,
            "-H",
            "Content-Type: application/json",
            "-d",
        ])
        .arg(format!(
            "{{\"short_description\":\"down\",\"correlation_id\":\"bare-{i}\"}}"
        ))
        .arg(&url);
        c
    });
    let truth = median(rounds, |_| Command::new("/bin/true"));
    let adapter = median(rounds, |i| {
        common::new_event(&conf_adapter, &format!("a-{i}"))
    });
    let via_script = median(rounds, |i| {
        common::new_event(&conf_script, &format!("s-{i}"))
    });
    let made = sn.incidents().len();
    assert_eq!(made, 3 * rounds, "every request made its incident");

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("ServiceNow: a new event, {rounds} rounds each (median wall time)");
    println!(
        "  /bin/true (a process start)          {:>7.2} ms",
        ms(truth)
    );
    println!(
        "  bare POST by curl                    {:>7.2} ms",
        ms(bare)
    );
    println!(
        "  hook + script + curl                 {:>7.2} ms",
        ms(via_script)
    );
    println!(
        "  hook + the ServiceNow adapter        {:>7.2} ms",
        ms(adapter)
    );
    println!("ratios (median):");
    println!(
        "  adapter / (bare POST + process start) {:.2}x  (goal <= 1.2x)",
        ms(adapter) / (ms(bare) + ms(truth))
    );
    println!(
        "  adapter / script with curl            {:.2}x",
        ms(adapter) / ms(via_script)
    );
}
