//! A new event through the native `zenticket` action's path (the whole event as JSON:
//! `--event-json`) against the command notification's (evid and numbers: the hook fetches
//! the text with `detail`), both against the Zenoss test server answering every call
//! LATENCY_MS (20) late, in the same run: Zenoss round trips per event, the time from the
//! hook's start to the ticket script's start (signal to ticket), and the whole call.
//!
//!     cargo bench --bench native

const BIN: &str = env!("CARGO_BIN_EXE_zenticket-hook");

#[allow(dead_code)]
#[path = "../tests/it/common/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "../tests/it/common/zenoss.rs"]
mod zenoss;

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let latency = Duration::from_millis(
        std::env::var("LATENCY_MS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(20),
    );
    let z = zenoss::Zenoss::start(zenoss::Version::V6);
    z.latency(latency);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // The script notes when it starts (the ticket's moment), then answers.
    let script = d.join("ticket.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ndate +%s.%N >> {}/started\necho 42\n",
            d.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let conf = d.join("zenticket.conf");
    std::fs::write(
        &conf,
        format!(
            "[GENERAL]\nticketscript: {}\nstatedb: {d}/zenticket.db\nlogfile: {d}/zenticket.log\ncollector: bench.example.com\n\n[LAB]\nid: nnl-00000\nqueue: Front Line\ngroup1: /Network\n\n{}",
            script.display(),
            z.section(),
            d = d.display()
        ),
    )
    .expect("config");
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let last_start = || {
        std::fs::read_to_string(d.join("started"))
            .unwrap_or_default()
            .lines()
            .last()
            .and_then(|l| l.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let run = |native: bool| {
        let (mut to_ticket, mut whole, calls_before) = (Vec::new(), Vec::new(), z.calls().len());
        for i in 0..rounds {
            let evid = format!("{}-{i}", if native { "n" } else { "c" });
            let mut e = zenoss::ZEvent::new(&evid);
            e.summary = "Interface eth0 down".into();
            z.add(e);
            let mut cmd = std::process::Command::new(BIN);
            cmd.arg("--config").arg(&conf);
            if native {
                let f = d.join(format!("{evid}.json"));
                std::fs::write(
                    &f,
                    format!(
                        "{{\"evid\":\"{evid}\",\"count\":1,\"eventState\":0,\"severity\":4,\"prodState\":1000,\
                         \"device\":\"router1\",\"ipAddress\":\"10.0.0.1\",\"component\":\"eth0\",\
                         \"summary\":\"Interface eth0 down\",\"message\":\"ifOperStatus=2\",\
                         \"eventClass\":\"/Net/Link\",\"DeviceClass\":\"/Network/Router\",\
                         \"DeviceGroups\":\"|/Network\",\"DevicePriority\":\"3\",\
                         \"firstTime\":\"2023/11/14 22:13:20.000\",\"lastTime\":\"2023/11/14 22:23:20.000\"}}"
                    ),
                )
                .expect("event");
                cmd.arg("--event-json").arg(&f);
            } else {
                cmd.args([
                    "--evid",
                    &evid,
                    "--count",
                    "1",
                    "--event-state",
                    "0",
                    "--severity",
                    "4",
                ]);
            }
            let (t0, started) = (now(), Instant::now());
            let st = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("hook");
            whole.push(started.elapsed());
            assert!(st.success());
            to_ticket.push(Duration::from_secs_f64((last_start() - t0).max(0.0)));
        }
        to_ticket.sort();
        whole.sort();
        let calls = (z.calls().len() - calls_before) as f64 / rounds as f64;
        (to_ticket[rounds / 2], whole[rounds / 2], calls)
    };
    let command = run(false);
    let native = run(true);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "a new event, {rounds} rounds, Zenoss answering {} ms late (medians)",
        latency.as_millis()
    );
    println!(
        "  command notification + detail: {:.1} Zenoss calls/event, signal to ticket {:>6.1} ms, whole call {:>6.1} ms",
        command.2,
        ms(command.0),
        ms(command.1)
    );
    println!(
        "  native zenticket action:       {:.1} Zenoss calls/event, signal to ticket {:>6.1} ms, whole call {:>6.1} ms",
        native.2,
        ms(native.0),
        ms(native.1)
    );
    println!(
        "  native / command: signal to ticket {:.2}x, whole call {:.2}x, round trips saved per event {:.1}",
        ms(native.0) / ms(command.0),
        ms(native.1) / ms(command.1),
        command.2 - native.2
    );
}
