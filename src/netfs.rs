//! Whether the state DB's folder is on a network filesystem, where SQLite must not be
//! used: its WAL keeps an index in shared memory that only processes on one host can share,
//! and its locks over NFS, CIFS or a FUSE filesystem are not to be trusted, so two hosts'
//! hooks could each take the "exclusive" lock and make one ticket twice. On Control
//! Center a volume is a local folder bind-mounted into each container on one host, but the
//! distributed filesystem (NFS) across hosts.
//!
//! The decision is `statfs(2)`'s filesystem magic for the folder itself (exact, whatever
//! the mount table says); `/proc/self/mountinfo` only names the mount for the message.

use std::path::{Path, PathBuf};

/// The network (or userspace) filesystem a `statfs` magic number stands for, if any.
/// Numbers from linux/magic.h and the filesystems' own sources.
pub fn network_kind(magic: i64) -> Option<&'static str> {
    Some(match magic {
        0x6969 => "NFS",
        0x517B => "SMB",
        0xFF53_4D42 => "CIFS",
        0xFE53_4D42 => "SMB2",
        0x6573_5546 => "FUSE",
        0x00C3_6400 => "Ceph",
        0x0102_1997 => "9P",
        0x5346_414F => "AFS",
        0x6B41_4653 => "AFS (kAFS)",
        0x7375_7245 => "Coda",
        0x0BD0_0BD0 => "Lustre",
        0x0116_1970 => "GFS2",
        0x7461_636F => "OCFS2",
        0xBEEF_DEAD => "GPFS",
        0x5346_544E => "NTFS over SMB",
        _ => return None,
    })
}

/// One mount, as `/proc/self/mountinfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// The mount holding `path` (the longest mount point that is a prefix of it; the last
/// such line wins, as a later mount hides an earlier one), from mountinfo's text.
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mountinfo.lines() {
        // id parent major:minor root point options [optional...] - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(point) = left.split(' ').nth(4).map(unescape) else {
            continue;
        };
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("").to_string();
        let source = unescape(r.next().unwrap_or(""));
        let point = PathBuf::from(point);
        if !path.starts_with(&point) {
            continue;
        }
        if best
            .as_ref()
            .is_some_and(|b| b.point.components().count() > point.components().count())
        {
            continue;
        }
        best = Some(Mount {
            point,
            fstype,
            source,
        });
    }
    best
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The statfs magic of the filesystem holding `dir`.
fn magic(dir: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs fills a plain struct for a NUL-terminated path.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    (rc == 0).then_some(st.f_type as i64)
}

/// Why the state DB at `statedb` must not be used, when its folder is on a network
/// filesystem: names the folder, the filesystem and what to do. None when it is local (or
/// the folder does not exist yet: its parent is what will hold it).
pub fn refusal(statedb: &Path) -> Option<String> {
    let folder = statedb.parent().filter(|d| !d.as_os_str().is_empty())?;
    let mut dir = folder;
    while !dir.exists() {
        dir = dir.parent()?;
    }
    let kind = network_kind(magic(dir)?)?;
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|m| mount_of(&m, &abs));
    let on = match mount {
        Some(m) => format!(
            "{kind} ({} from {} mounted at {})",
            m.fstype,
            m.source,
            m.point.display()
        ),
        None => kind.to_string(),
    };
    Some(format!(
        "its folder {} is on a network or userspace filesystem, {on}: SQLite's locks and WAL \
         do not hold there, and two hosts could each make the same ticket; put the state DB on \
         a local disk of the host that runs every zenticket-hook (statedb in [GENERAL]); on \
         Control Center run zenactiond and the zenticket service on the master, whose volumes \
         are local folders",
        folder.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers() {
        let table: &[(i64, Option<&str>)] = &[
            (0x6969, Some("NFS")),
            (0xFF53_4D42, Some("CIFS")),
            (0xFE53_4D42, Some("SMB2")),
            (0x517B, Some("SMB")),
            (0x6573_5546, Some("FUSE")),
            (0x00C3_6400, Some("Ceph")),
            (0x0102_1997, Some("9P")),
            (0xEF53, None),      // ext4
            (0x5846_5342, None), // XFS
            (0x0102_1994, None), // tmpfs
            (0x9123_683E, None), // Btrfs
            (0x794C_7630, None), // overlayfs (a container's root)
        ];
        for &(m, want) in table {
            assert_eq!(network_kind(m), want, "{m:#x}");
        }
    }

    /// Lines as Linux writes them: a Control Center delegate's DFS mount, a CIFS share, a
    /// FUSE mount with a space in its path, and the container's own root.
    const MOUNTINFO: &str = "\
1024 1000 0:220 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
1030 1024 8:1 /var/lib/serviced/volumes/abc/var-zenpacks /var/zenoss rw,relatime - xfs /dev/sda1 rw
1031 1024 0:55 /exports/serviced_volumes_v2/abc/zenticket /opt/zenoss/var/zenticket rw,relatime shared:9 - nfs4 10.0.0.5:/serviced_volumes_v2/abc rw,vers=4.1
1032 1024 0:60 / /mnt/share rw,relatime - cifs //fs1/zenoss rw,vers=3.0
1033 1024 0:61 / /mnt/my\\040fuse rw,nosuid,nodev - fuse.sshfs me@host:/srv rw,user_id=0
1034 1031 0:62 / /opt/zenoss/var/zenticket/sub rw - ext4 /dev/sdb1 rw
";

    #[test]
    fn the_mount_holding_a_path() {
        let table: &[(&str, &str, &str, &str)] = &[
            (
                "/opt/zenoss/var/zenticket/zenticket.db",
                "/opt/zenoss/var/zenticket",
                "nfs4",
                "10.0.0.5:/serviced_volumes_v2/abc",
            ),
            (
                "/var/zenoss/zenticket/zenticket.db",
                "/var/zenoss",
                "xfs",
                "/dev/sda1",
            ),
            ("/mnt/share/x.db", "/mnt/share", "cifs", "//fs1/zenoss"),
            (
                "/mnt/my fuse/x.db",
                "/mnt/my fuse",
                "fuse.sshfs",
                "me@host:/srv",
            ),
            (
                "/opt/zenoss/var/zenticket/sub/x.db",
                "/opt/zenoss/var/zenticket/sub",
                "ext4",
                "/dev/sdb1",
            ),
            ("/opt/zenoss/var/zenticketX/x.db", "/", "overlay", "overlay"),
            ("/tmp/x.db", "/", "overlay", "overlay"),
        ];
        for &(path, point, fstype, source) in table {
            let m = mount_of(MOUNTINFO, Path::new(path)).expect(path);
            assert_eq!(
                (m.point.as_path(), m.fstype.as_str(), m.source.as_str()),
                (Path::new(point), fstype, source),
                "{path}"
            );
        }
    }

    #[test]
    fn this_machines_mountinfo_reads_and_a_local_folder_is_not_refused() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(mount_of(&text, Path::new("/")).is_some());
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(refusal(&dir.path().join("zenticket.db")), None);
    }
}
