//! What the benches share: the hook called for a new event, as a notification with text
//! calls it (New, Error, a production device of /Network: the ticket case).

use std::path::Path;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_zenticket-hook");

/// `zenticket-hook --config CONF --evid EVID ...` for a new, routable event of count 1.
pub fn new_event(conf: &Path, evid: &str) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(conf).args([
        "--evid",
        evid,
        "--count",
        "1",
        "--event-state",
        "0",
        "--severity",
        "4",
        "--prod-state",
        "1000",
        "--device",
        "router1",
        "--device-groups",
        "|/Network",
        "--summary",
        "Interface down",
        "--message",
        "ifOperStatus=2",
    ]);
    c
}

/// `dir/ticket.sh`, the trivial ticket script (prints 42), executable; its path.
#[allow(dead_code)]
pub fn trivial_script(dir: &Path) -> std::path::PathBuf {
    let script = dir.join("ticket.sh");
    std::fs::write(&script, "#!/bin/sh\necho 42\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    script
}
