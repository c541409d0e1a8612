//! `replay` over 100,000 events from a file of JSON lines (target: well under 2 s), against
//! the decision alone over the same events already in memory (`decide_occurrence` in this
//! process), measured in the same run; and with `--against` a second config.
//!
//!     cargo bench --bench replay          # EVENTS=100000 by default

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};
use zenticket_hook::config::Config;
use zenticket_hook::decide;
use zenticket_hook::event::Event;

const BIN: &str = env!("CARGO_BIN_EXE_zenticket-hook");

fn main() {
    let n: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // An MSP's config: 200 customers, each with its own groups.
    let mut conf = format!(
        "[GENERAL]\nticketscript: /bin/true\nstatedb: {0}/s.db\nlogfile: {0}/l.log\n",
        d.display()
    );
    for c in 0..200 {
        conf.push_str(&format!(
            "\n[CUST{c}]\nid: c-{c}\nqueue: Q{c}\ngroup1: /Cust{c}\ngroup2: /Cust{c}/Network\n"
        ));
    }
    let main = d.join("main.conf");
    std::fs::write(&main, &conf).expect("config");
    let other = d.join("other.conf");
    std::fs::write(
        &other,
        conf.replace("group2: /Cust7/Network", "group2: /Cust8/Network"),
    )
    .expect("config");
    let events = d.join("events.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&events).expect("file"));
    for i in 0..n {
        let c = i % 220; // a few groups no section has
        writeln!(
            f,
            r#"{{"evid":"0242ac11-0008-8a4b-11ee-{i:012}","count":{},"eventState":"New","severity":{},"prodState":"Production","device":{{"text":"dev{i}"}},"component":{{"text":"eth0"}},"ipAddress":["10.0.0.1"],"summary":"Interface eth0 down","message":"ifOperStatus=2","eventClass":{{"text":"/Net/Link"}},"DeviceClass":[{{"uid":"/zport/dmd/Devices/Network","name":"/Network"}}],"DeviceGroups":[{{"uid":"/zport/dmd/Groups/Cust{c}","name":"/Cust{c}/Network"}}],"firstTime":1700000000.1,"lastTime":1700000600.4}}"#,
            1 + i % 5,
            2 + i % 4
        )
        .expect("write");
    }
    f.flush().expect("flush");
    drop(f);

    let time = |args: &[&std::ffi::OsStr]| -> Duration {
        let t = Instant::now();
        let out = Command::new(BIN).args(args).output().expect("replay");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed()
    };
    let best = |f: &dyn Fn() -> Duration| (0..3).map(|_| f()).min().expect("runs");
    let replay = best(&|| {
        time(&[
            "--config".as_ref(),
            main.as_os_str(),
            "--json".as_ref(),
            "replay".as_ref(),
            "--events".as_ref(),
            events.as_os_str(),
        ])
    });
    let against = best(&|| {
        time(&[
            "--config".as_ref(),
            main.as_os_str(),
            "--json".as_ref(),
            "replay".as_ref(),
            "--events".as_ref(),
            events.as_os_str(),
            "--against".as_ref(),
            other.as_os_str(),
        ])
    });
    // The decision alone: the same events parsed beforehand, decided in this process.
    let cfg = Config::load(&main, None).expect("config");
    let parsed: Vec<Event> = std::fs::read_to_string(&events)
        .expect("read")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            Event::from_json(v.as_object().expect("object")).expect("event")
        })
        .collect();
    let decide_only = best(&|| {
        let t = Instant::now();
        let mut tickets = 0;
        for ev in &parsed {
            if decide::decide_occurrence(ev, &cfg, b"", "bench").kind == decide::Kind::Ticket {
                tickets += 1;
            }
        }
        assert!(tickets > 0);
        t.elapsed()
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("replay bench: {n} events from a file, 200 customer sections (best of 3)");
    println!(
        "  decide alone, in memory        {:>8.1} ms",
        ms(decide_only)
    );
    println!("  replay --events (process)      {:>8.1} ms  ({:.2}x decide alone; target well under 2000 ms)", ms(replay), ms(replay) / ms(decide_only));
    println!(
        "  replay --events --against      {:>8.1} ms  ({:.2}x decide alone)",
        ms(against),
        ms(against) / ms(decide_only)
    );
}
