//! Files the tool creates take the owner of the folder they are in.
//!
//! Administrators run `sweep`, `requeue` or a test hook from a root shell (`serviced
//! service attach` opens one). A state DB, lock, journal or log created there would be
//! root's, 0600, and every hook zenactiond runs as zenoss would fail from then on. So a
//! process running as root hands each file it creates (and each folder) to the owner of
//! the folder that holds it; SQLite does the same for its `-wal` and `-shm` from the DB
//! file's owner (os_unix.c, `robustFchown`), and they are handed over here too in case
//! they were made before. Nothing changes for a process that is not root.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The (uid, gid) a file at `path` should have, when this process is root and the folder
/// is someone else's; None: nothing to do.
fn wanted(path: &Path) -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let dir = std::fs::metadata(folder_of(path)).ok()?;
    (dir.uid() != 0).then(|| (dir.uid(), dir.gid()))
}

/// Hands `f` (just opened or created at `path`) to the folder's owner, when root made it.
pub fn adopt_file(path: &Path, f: &File) {
    let Some((uid, gid)) = wanted(path) else {
        return;
    };
    if f.metadata().is_ok_and(|m| m.uid() == 0) {
        if let Err(e) = std::os::unix::fs::fchown(f, Some(uid), Some(gid)) {
            log::warn!(
                "cannot hand {} to uid {uid} (the owner of its folder): {e}; the zenoss user \
                 may be unable to open it",
                path.display()
            );
        }
    }
}

/// The same for a file or folder by path (never following a link).
pub fn adopt_path(path: &Path) {
    let Some((uid, gid)) = wanted(path) else {
        return;
    };
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.uid() == 0 && !m.file_type().is_symlink()) {
        if let Err(e) = std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
            log::warn!(
                "cannot hand {} to uid {uid} (the owner of its folder): {e}",
                path.display()
            );
        }
    }
}

/// Creates `dir` and any missing parents (mode `mode`), each handed to the owner of the
/// folder it is made in.
pub fn create_dirs(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent, mode)?;
    }
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    adopt_path(dir);
    Ok(())
}

/// A state file whose owner is not the owner of its folder and who may not read and
/// write it: the words for `check-config`, naming the file and the fix. None: fine.
pub fn locked_out(path: &Path) -> Option<String> {
    let file = std::fs::symlink_metadata(path).ok()?;
    let dir = std::fs::metadata(folder_of(path)).ok()?;
    if file.uid() == dir.uid() || dir.uid() == 0 {
        return None;
    }
    let mode = file.mode();
    let by_group = file.gid() == dir.gid() && mode & 0o060 == 0o060;
    let by_others = mode & 0o006 == 0o006;
    if by_group || by_others {
        return None;
    }
    Some(format!(
        "{} is owned by uid {} (mode {:o}), not by uid {} who owns its folder (the user hooks \
         run as): they cannot open it; `chown {}:{} {}` (it was made by a command run as \
         another user)",
        path.display(),
        file.uid(),
        mode & 0o7777,
        dir.uid(),
        dir.uid(),
        dir.gid(),
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_of_the_folders_owner_is_never_locked_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s.db");
        std::fs::write(&p, b"").expect("write");
        assert_eq!(locked_out(&p), None);
        assert_eq!(locked_out(&dir.path().join("missing")), None);
    }
}
