//! The ticket (and clear) script: exactly the daemon's argument vector, exec'd directly
//! (never through a shell: event text is data), in its own process group so that a
//! timeout kills it and everything it started.

use crate::event::{cut_to_arg_limit, Event};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The values the daemon passed that do not come from the event.
pub struct Context<'a> {
    pub customer_id: &'a [u8],
    pub queue: &'a [u8],
    pub collector: &'a [u8],
    pub note_title: &'a [u8],
}

/// The daemon's argv (after the script path), and what had to be altered to make it
/// one, for the log: a value Linux refuses as one argument (128 KiB or more) is cut to
/// 131,071 bytes at a character boundary, and a NUL byte, which no argument can carry, is
/// passed as the two characters `\0`. Nothing else is ever altered.
pub fn argv(ev: &Event, ctx: &Context) -> (Vec<OsString>, Vec<String>) {
    let t = |v: &Option<Vec<u8>>| v.clone().unwrap_or_default();
    let n = |v: Option<i64>| v.map(|n| n.to_string().into_bytes()).unwrap_or_default();
    let time = |v: &Option<String>| -> Vec<u8> {
        match v {
            None => Vec::new(),
            Some(s) if crate::time::is_zenoss_format(s) => s.clone().into_bytes(),
            Some(s) => match crate::time::parse(s) {
                Ok(epoch) => crate::time::zenoss_format(epoch).into_bytes(),
                Err(_) => s.clone().into_bytes(),
            },
        }
    };
    let pairs: Vec<(&'static str, Vec<u8>)> = vec![
        ("-customer", ctx.customer_id.to_vec()),
        ("-device", t(&ev.device)),
        ("-deviceIP", t(&ev.ip_address)),
        ("-collector", ctx.collector.to_vec()),
        ("-first", time(&ev.first_time)),
        ("-last", time(&ev.last_time)),
        ("-count", n(ev.count)),
        ("-summary", t(&ev.summary)),
        ("-noteTitle", ctx.note_title.to_vec()),
        ("-note", t(&ev.message)),
        ("-severity", n(ev.severity)),
        ("-group", t(&ev.device_groups)),
        ("-impact", t(&ev.device_priority)),
        ("-component", t(&ev.component)),
        ("-queue", ctx.queue.to_vec()),
    ];
    let mut out = Vec::with_capacity(30);
    let mut cut = Vec::new();
    for (flag, mut value) in pairs {
        if value.contains(&0) {
            value = escape_nul(&value);
            cut.push(format!(
                "{flag} held NUL bytes, which no argument can carry; each is passed as \\0"
            ));
        }
        if cut_to_arg_limit(&mut value) {
            cut.push(format!(
                "{flag} was {} bytes or longer, over Linux's limit for one argument; cut to 131071 bytes",
                crate::event::MAX_ARG
            ));
        }
        out.push(OsString::from(flag));
        out.push(OsString::from_vec(value));
    }
    (out, cut)
}

fn escape_nul(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 8);
    for &b in v {
        if b == 0 {
            out.extend_from_slice(b"\\0");
        } else {
            out.push(b);
        }
    }
    out
}

/// The same for one ticket attempt, every attempt: (evid, count) and the installation's
/// id (kept in the state DB; "" for work owed before there was one, whose key stays what
/// it was), so two Zenoss hosts sharing a ticket system never share a key.
pub fn idempotency_key(evid: &str, count: i64, installation: &str) -> String {
    // FNV-1a over them, plus the count in clear: short, printable, stable across versions.
    let mut h: u64 = 0xcbf29ce484222325;
    let prefix: Vec<u8> = if installation.is_empty() {
        Vec::new()
    } else {
        [installation.as_bytes(), b"\0"].concat()
    };
    for b in prefix
        .iter()
        .chain(evid.as_bytes())
        .chain(b"\0")
        .chain(count.to_string().as_bytes())
    {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("zt-{h:016x}-{count}-{evid}")
}

/// What running the script gave.
#[derive(Debug)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Exit code, or the signal that ended it; None when it could not be started.
    pub status: Option<Status>,
    pub timed_out: bool,
    pub spawn_error: Option<String>,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Code(c) => write!(f, "exit status {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

impl Outcome {
    /// The ticket number: stdout, trimmed, as a positive integer (Python's `int()`).
    /// The ticket number it printed: a positive integer of any length (`ticket::from_script`).
    pub fn ticket(&self) -> Option<String> {
        crate::ticket::from_script(&self.stdout)
    }

    pub fn succeeded(&self) -> bool {
        !self.timed_out && self.status == Some(Status::Code(0))
    }

    /// Why no ticket came of it, in words for the log and `state`.
    pub fn failure(&self, script: &Path) -> String {
        let mut msg = if let Some(e) = &self.spawn_error {
            format!("cannot run {}: {e}", script.display())
        } else if self.timed_out && self.stdout.is_empty() {
            format!(
                "{} printed nothing before it was killed at the timeout ({:.1}s)",
                script.display(),
                self.elapsed.as_secs_f64()
            )
        } else {
            let out = String::from_utf8_lossy(&self.stdout);
            let out = out.trim();
            let status = self.status.map_or("no status".into(), |s| s.to_string());
            if out.is_empty() {
                format!("{} printed no ticket number ({status})", script.display())
            } else {
                format!(
                    "{} printed {:?}, not a positive ticket number ({status})",
                    script.display(),
                    crate::log::clip(out, 200)
                )
            }
        };
        let err = String::from_utf8_lossy(&self.stderr);
        let err = err.trim();
        if !err.is_empty() {
            msg.push_str(&format!("; stderr: {}", crate::log::clip(err, 2000)));
        }
        msg
    }
}

/// How long output may still arrive after the script itself has exited: what it wrote is
/// in the pipe already, this only lets the readers drain it. A descendant that escaped the
/// script's process group (`setsid mailer &`) can hold the pipes open for as long as it
/// likes; the script's answer is what it wrote before it exited.
const DRAIN_GRACE: Duration = Duration::from_millis(200);
/// Output kept per stream: a runaway script must not eat the hook's memory.
const MAX_OUTPUT: u64 = 4 << 20;

/// Runs `script args...` for (evid, count, idempotency key), which it also gets as
/// ZENTICKET_EVID, ZENTICKET_COUNT and ZENTICKET_IDEMPOTENCY_KEY, killing its process group
/// at `timeout`. Never fails: a script that cannot start is an outcome too.
///
/// The script's end is its own exit, not the end of its output: a script that forks a
/// mailer or a logger into the background (same group or its own session) and exits
/// has answered, and what it printed is read at once.
pub fn run(
    script: &Path,
    args: &[OsString],
    (evid, count, key): (&str, i64, &str),
    timeout: Duration,
) -> Outcome {
    let start = Instant::now();
    let mut child = match command(script, args, (evid, count, key)).spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                stdout: Vec::new(),
                stderr: Vec::new(),
                status: None,
                timed_out: false,
                spawn_error: Some(e.to_string()),
                elapsed: start.elapsed(),
            }
        }
    };
    let pgid = child.id() as i32;
    let (tx, rx) = mpsc::channel::<Report>();
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut open = 0;
    if let Some(pipe) = child.stdout.take() {
        read_into(pipe, stdout.clone(), tx.clone());
        open += 1;
    }
    if let Some(pipe) = child.stderr.take() {
        read_into(pipe, stderr.clone(), tx.clone());
        open += 1;
    }
    // The exit, from a thread blocked in wait(): it wakes us the moment the script ends.
    let waiter = tx.clone();
    std::thread::spawn(move || {
        let _ = waiter.send(Report::Exited(child.wait().ok()));
    });
    drop(tx);
    let deadline = start + timeout;
    let mut timed_out = false;
    let mut status = None;
    let mut exited = false;
    let mut drain_until = None;
    while !(exited && open == 0) {
        let until = drain_until.unwrap_or(deadline);
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Report::Closed) => open -= 1,
            Ok(Report::Exited(s)) => {
                exited = true;
                status = s;
                drain_until = Some(Instant::now() + DRAIN_GRACE);
            }
            Err(mpsc::RecvTimeoutError::Timeout) if exited => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                kill_group(pgid);
                // Killed, it exits at once; its output is what it wrote before.
                status = wait_exit(&rx, Duration::from_secs(2));
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let take = |b: &Arc<Mutex<Vec<u8>>>| b.lock().map(|v| v.clone()).unwrap_or_default();
    Outcome {
        stdout: take(&stdout),
        stderr: take(&stderr),
        status: status.map(|s| match s.code() {
            Some(c) => Status::Code(c),
            None => Status::Signal(s.signal().unwrap_or(0)),
        }),
        timed_out,
        spawn_error: None,
        elapsed: start.elapsed(),
    }
}

/// What the reader and waiter threads report.
enum Report {
    /// A pipe reached its end.
    Closed,
    /// The script exited (None: waiting for it failed).
    Exited(Option<std::process::ExitStatus>),
}

/// The command: exactly these arguments, no shell, its own process group, the
/// ZENTICKET_* environment, and a PATH when the hook was given none.
fn command(script: &Path, args: &[OsString], (evid, count, key): (&str, i64, &str)) -> Command {
    let mut cmd = Command::new(script);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // If the hook is SIGKILLed (zenactiond's timeout), take the script down with it rather
    // than leave it running unwatched; `sweep` retries with the same idempotency key.
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    if std::env::var_os("PATH").is_none() {
        cmd.env("PATH", DEFAULT_PATH);
    }
    cmd.env("ZENTICKET_EVID", evid)
        .env("ZENTICKET_COUNT", count.to_string())
        .env("ZENTICKET_IDEMPOTENCY_KEY", key);
    cmd
}

/// Appends what the pipe gives to `buf` as it arrives (so that it can be taken before the
/// pipe ends), keeping at most MAX_OUTPUT bytes, and reports the end.
fn read_into(
    mut pipe: impl Read + Send + 'static,
    buf: Arc<Mutex<Vec<u8>>>,
    tx: mpsc::Sender<Report>,
) {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        let mut kept = 0u64;
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let room = (MAX_OUTPUT - kept).min(n as u64) as usize;
                    if room > 0 {
                        if let Ok(mut b) = buf.lock() {
                            b.extend_from_slice(&chunk[..room]);
                        }
                        kept += room as u64;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(Report::Closed);
    });
}

/// The exit status, once the waiter reports it (pipes closing on the way are skipped).
fn wait_exit(rx: &mpsc::Receiver<Report>, within: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + within;
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Report::Exited(s)) => return s,
            Ok(Report::Closed) => {}
            Err(_) => return None,
        }
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// The host's fully qualified name, as Python's `socket.getfqdn()` gave it.
pub fn fqdn() -> Vec<u8> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return b"localhost".to_vec();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let host = buf[..len].to_vec();
    if host.contains(&b'.') {
        return host;
    }
    canonical_name(&host).unwrap_or(host)
}

fn canonical_name(host: &[u8]) -> Option<Vec<u8>> {
    let c_host = std::ffi::CString::new(host).ok()?;
    // SAFETY: getaddrinfo with a valid C string and zeroed hints; the result list is
    // read once and freed with freeaddrinfo.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) != 0 {
            return None;
        }
        let name = if !res.is_null() && !(*res).ai_canonname.is_null() {
            Some(
                std::ffi::CStr::from_ptr((*res).ai_canonname)
                    .to_bytes()
                    .to_vec(),
            )
        } else {
            None
        };
        libc::freeaddrinfo(res);
        name.filter(|n| n.contains(&b'.'))
    }
}

/// For log lines: the argv as one readable line.
pub fn show_argv(script: &Path, args: &[OsString]) -> String {
    let mut s = String::from_utf8_lossy(script.as_os_str().as_bytes()).into_owned();
    for a in args {
        s.push(' ');
        s.push_str(&crate::log::quote(a.as_bytes()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_stable_and_distinct() {
        assert_eq!(idempotency_key("a", 1, ""), idempotency_key("a", 1, ""));
        assert_ne!(idempotency_key("a", 1, ""), idempotency_key("a", 2, ""));
        assert_ne!(idempotency_key("a1", 1, ""), idempotency_key("a", 11, ""));
        // Two installations never share a key; without one, the key of earlier versions.
        assert_ne!(idempotency_key("a", 1, "3f"), idempotency_key("a", 1, "40"));
        assert_eq!(idempotency_key("ev", 2, ""), "zt-d5f6bb608468e5fc-2-ev");
    }

    #[test]
    fn ticket_number_rules() {
        let o = |s: &[u8]| Outcome {
            stdout: s.to_vec(),
            stderr: vec![],
            status: Some(Status::Code(0)),
            timed_out: false,
            spawn_error: None,
            elapsed: Duration::ZERO,
        };
        assert_eq!(o(b" 4711\n").ticket().as_deref(), Some("4711"));
        assert_eq!(o(b"0").ticket(), None);
    }
}
