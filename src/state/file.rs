//! Reading and writing state files. Writes are atomic: the new contents go to a temporary
//! file with an unpredictable name, created exclusively in the directory of the real file (a
//! symlinked state is written through to its target), given the old file's owner and mode,
//! flushed to disk (fsync), renamed over the old file, and the directory is fsynced so the
//! rename itself lasts. A crash or SIGKILL at any moment leaves the old file or the new one,
//! never a mix (a stray `.NAME.tmp-XXXXXXXXXXXX` may remain; the next run that takes the
//! lock removes it, see `lock.rs`).
//!
//! A file that is not a state file, is damaged, or was written by a newer format version is
//! an error; callers stop before they could overwrite it.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::Path;

use super::format::{Header, StateFile, FORMAT, VERSION};
use super::lock;

#[derive(Debug)]
pub enum StateError {
    Io {
        path: String,
        error: std::io::Error,
    },
    /// Not a state file, or a damaged one.
    Invalid {
        path: String,
        detail: String,
    },
    /// Written by a newer stekwatch.
    Newer {
        path: String,
        version: u32,
    },
    /// Another run holds the state's lock.
    Locked {
        path: String,
        pid: Option<u32>,
        waited_secs: u64,
    },
}

impl StateError {
    /// An invalid state without a path yet (`load` adds it).
    pub fn invalid(detail: String) -> Self {
        StateError::Invalid {
            path: String::new(),
            detail,
        }
    }

    fn at(self, p: &Path) -> Self {
        match self {
            StateError::Invalid { path, detail } if path.is_empty() => StateError::Invalid {
                path: p.display().to_string(),
                detail,
            },
            StateError::Newer { path, version } if path.is_empty() => StateError::Newer {
                path: p.display().to_string(),
                version,
            },
            e => e,
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io { path, error } => write!(f, "state file {path}: {error}"),
            StateError::Invalid { path, detail } => write!(
                f,
                "{path} is not a usable stekwatch state file ({detail}); it was left untouched"
            ),
            StateError::Newer { path, version } => write!(
                f,
                "{path} was written by a newer stekwatch (state format version {version}; this \
                 one reads version {VERSION}); it was left untouched"
            ),
            StateError::Locked {
                path,
                pid,
                waited_secs,
            } => write!(
                f,
                "state file {path} is in use by another stekwatch run{} (waited {waited_secs}s \
                 for it; see --lock-wait); it was left untouched",
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// Reads a state file; `Ok(None)` when it does not exist (a first run).
pub fn load(path: &Path) -> Result<Option<StateFile>, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(StateError::Io {
                path: path.display().to_string(),
                error,
            })
        }
    };
    parse_state(&bytes).map(Some).map_err(|e| e.at(path))
}

/// Checks the header first (format name and version), then the body.
pub fn parse_state(bytes: &[u8]) -> Result<StateFile, StateError> {
    if bytes.is_empty() {
        return Err(StateError::invalid("the file is empty".into()));
    }
    let header: Header = serde_json::from_slice(bytes)
        .map_err(|e| StateError::invalid(format!("not JSON or cut short: {e}")))?;
    if header.format.as_deref() != Some(FORMAT) {
        return Err(StateError::invalid(format!(
            "no \"format\": \"{FORMAT}\" header"
        )));
    }
    match header.version {
        Some(VERSION) => {}
        Some(v) if v > VERSION => {
            return Err(StateError::Newer {
                path: String::new(),
                version: v,
            })
        }
        v => return Err(StateError::invalid(format!("unknown format version {v:?}"))),
    }
    serde_json::from_slice(bytes).map_err(|e| StateError::invalid(format!("damaged: {e}")))
}

/// Writes `state` to `path` atomically (see the module doc). A symlinked `path` is written
/// through to its target; an existing file keeps its mode and (where the OS allows) owner.
pub fn save(path: &Path, state: &StateFile) -> Result<(), StateError> {
    let io = |error| StateError::Io {
        path: path.display().to_string(),
        error,
    };
    let target = lock::resolve(path).map_err(io)?;
    let result = (|| {
        let mut tmp = temp_beside(&target)?;
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        serde_json::to_writer(&mut w, state)?;
        w.write_all(b"\n")?;
        w.flush()?;
        drop(w);
        keep_owner_and_mode(tmp.as_file(), &target)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&target).map_err(|e| e.error)?;
        File::open(lock::dir_of(&target))?.sync_all()
    })();
    result.map_err(io)
}

/// Fails early (before a long read or capture) when the state could not be saved: a
/// temporary file can be made beside it (and is removed at once).
pub fn probe_writable(path: &Path) -> Result<(), StateError> {
    lock::resolve(path)
        .and_then(|target| temp_beside(&target))
        .map(drop)
        .map_err(|error| StateError::Io {
            path: path.display().to_string(),
            error,
        })
}

/// A new file `.NAME.tmp-RANDOM` beside `target`, created exclusively (O_EXCL: never an
/// existing file or a link planted there) and readable by its owner only until it is given
/// the old file's mode.
fn temp_beside(target: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!(".{}{}", lock::name_of(target), lock::TEMP_INFIX))
        .suffix("")
        .rand_bytes(12)
        .tempfile_in(lock::dir_of(target))
}

/// Gives the new file the old one's permission bits and owner; a new state stays 0600 (it
/// names keys). Changing the owner needs privilege: without it the file becomes the writer's,
/// as with any editor, and its group and mode are still kept where allowed.
fn keep_owner_and_mode(tmp: &File, target: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::io::AsRawFd;
    let old = match fs::metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mine = tmp.metadata()?;
    if (mine.uid(), mine.gid()) != (old.uid(), old.gid()) {
        // SAFETY: fchown on a descriptor we own; failure is reported through errno.
        if unsafe { libc::fchown(tmp.as_raw_fd(), old.uid(), old.gid()) } != 0 {
            // Not root: keep at least the group when we are in it.
            // SAFETY: as above; uid -1 leaves the owner.
            let _ = unsafe { libc::fchown(tmp.as_raw_fd(), u32::MAX, old.gid()) };
        }
    }
    tmp.set_permissions(fs::Permissions::from_mode(old.mode() & 0o7777))
}
