//! Where a state file really lives, and who may write it: the symlink chain of `--state` is
//! resolved (a state reached through a link is written through to its target), an advisory
//! lock (`flock` on `.NAME.lock` beside the target) is held for a whole run so two runs on one
//! state never lose an update, and temporary files left by interrupted saves are removed once
//! the lock proves no other run can be writing them.
//!
//! The lock file is never removed (removing it would let a third run lock a fresh inode while
//! a second still waits on the old one); it holds the pid of the run that holds the lock, so a
//! refusal can name it. A run that cannot take the lock waits up to `wait`, telling the user it
//! waits and for whom, then refuses.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::file::StateError;

/// Temporary files of saves are named `.NAME` + this + random letters (or, before the lock
/// existed, the writer's pid).
pub const TEMP_INFIX: &str = ".tmp-";

/// Symlinks followed before giving up (as the kernel's ELOOP limit).
const MAX_LINKS: usize = 40;

/// How often a waiting run retries the lock.
const POLL: Duration = Duration::from_millis(50);

/// The file a path names once its symlinks are followed (the path itself when it is not a
/// link, or a dangling link's target, which a save then creates).
pub fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links"
    )))
}

/// The directory a file lives in (`.` for a bare name).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// The file name, for naming files beside it.
pub fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "state".into())
}

/// The lock on one state file, held until dropped (or the process ends, even by SIGKILL).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    /// The state file itself (symlinks resolved).
    pub target: PathBuf,
    /// Temporary files of interrupted saves removed when the lock was taken.
    pub removed: Vec<PathBuf>,
}

/// Takes the lock of the state `path`, waiting up to `wait` for another run to release it;
/// `waiting` is told once, with the other holder's pid when known, if the lock is busy.
pub fn lock(
    path: &Path,
    wait: Duration,
    waiting: &mut dyn FnMut(Option<u32>),
) -> Result<StateLock, StateError> {
    let io = |error| StateError::Io {
        path: path.display().to_string(),
        error,
    };
    let target = resolve(path).map_err(io)?;
    let lock_path = dir_of(&target).join(format!(".{}.lock", name_of(&target)));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&lock_path)
        .map_err(|error| StateError::Io {
            path: lock_path.display().to_string(),
            error,
        })?;
    let began = Instant::now();
    let mut told = false;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io(err));
        }
        let holder = holder_pid(&mut file);
        if began.elapsed() >= wait {
            return Err(StateError::Locked {
                path: path.display().to_string(),
                pid: holder,
                waited_secs: wait.as_secs(),
            });
        }
        if !told {
            waiting(holder);
            told = true;
        }
        std::thread::sleep(POLL);
    }
    // Ours now: say who holds it (a failure here only costs the pid in others' messages).
    let meta = file.metadata().map_err(io)?;
    if meta.is_file() && meta.nlink() == 1 {
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
    }
    let removed = remove_strays(&target);
    Ok(StateLock {
        _file: file,
        target,
        removed,
    })
}

fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Removes the temporary files of saves of `target` that crashed or were killed: only names
/// `.NAME.tmp-` + letters and digits, only regular files, and not those of the old pid naming
/// whose process is still alive (a stekwatch from before the lock may still be writing).
/// Called with the lock held, so no other run of this version is writing one.
fn remove_strays(target: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}{TEMP_INFIX}", name_of(target));
    let Ok(entries) = fs::read_dir(dir_of(target)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if rest.is_empty() || rest.len() > 32 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        if rest.bytes().all(|b| b.is_ascii_digit()) && pid_alive(rest) {
            continue;
        }
        let path = entry.path();
        let regular = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        if regular && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

fn pid_alive(pid: &str) -> bool {
    pid.parse::<u32>()
        .is_ok_and(|p| p != std::process::id() && Path::new(&format!("/proc/{p}")).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("stekwatch-lock-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_chain_of_symlinks_resolves_to_the_file_at_its_end_even_if_missing() {
        let d = dir("resolve");
        std::os::unix::fs::symlink("b", d.join("a")).unwrap();
        std::os::unix::fs::symlink(d.join("c"), d.join("b")).unwrap();
        assert_eq!(resolve(&d.join("a")).unwrap(), d.join("c"));
        std::os::unix::fs::symlink("loop", d.join("loop")).unwrap();
        assert!(resolve(&d.join("loop")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn only_temp_files_of_this_state_are_removed_and_not_those_of_a_live_pid() {
        let d = dir("strays");
        for n in [
            ".s.json.tmp-12345678",
            ".s.json.tmp-Ab3xYz09Qw1e",
            ".s.json.tmp-",
            ".s.json.tmp-a.b",
            ".t.json.tmp-999999",
            "s.json",
            "notes.txt",
        ] {
            fs::write(d.join(n), b"x").unwrap();
        }
        // A live process's (pid 1 is always alive).
        fs::write(d.join(".s.json.tmp-1"), b"x").unwrap();
        let removed = remove_strays(&d.join("s.json"));
        let names: Vec<String> = removed.iter().map(|p| name_of(p)).collect();
        assert_eq!(names, [".s.json.tmp-12345678", ".s.json.tmp-Ab3xYz09Qw1e"]);
        for n in [
            ".s.json.tmp-",
            ".s.json.tmp-a.b",
            ".t.json.tmp-999999",
            ".s.json.tmp-1",
        ] {
            assert!(d.join(n).exists(), "{n}");
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_second_lock_on_one_state_waits_then_refuses_naming_the_holder() {
        let d = dir("twice");
        let path = d.join("s.json");
        let first = lock(&path, Duration::ZERO, &mut |_| panic!("free")).unwrap();
        let mut told = None;
        let err = lock(&path, Duration::from_millis(120), &mut |p| told = Some(p)).unwrap_err();
        assert_eq!(told, Some(Some(std::process::id())));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        lock(&path, Duration::ZERO, &mut |_| panic!("free")).unwrap();
        fs::remove_dir_all(&d).unwrap();
    }
}
