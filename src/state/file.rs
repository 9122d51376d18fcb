//! Reading and writing state files. Writes are atomic: the new contents go to a temporary
//! file in the same directory, which is flushed to disk (fsync), renamed over the old file,
//! and the directory is fsynced so the rename itself lasts. A crash or SIGKILL at any moment
//! leaves the old file or the new one, never a mix (a stray `.NAME.tmp-PID` may remain).
//!
//! A file that is not a state file, is damaged, or was written by a newer format version is
//! an error; callers stop before they could overwrite it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::format::{Header, StateFile, FORMAT, VERSION};

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

/// Writes `state` to `path` atomically (see the module doc).
pub fn save(path: &Path, state: &StateFile) -> Result<(), StateError> {
    let io = |error| StateError::Io {
        path: path.display().to_string(),
        error,
    };
    let tmp = temp_path(path);
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        serde_json::to_writer(&mut w, state)?;
        w.write_all(b"\n")?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Fails early (before a long read or capture) when the state could not be saved.
pub fn probe_writable(path: &Path) -> Result<(), StateError> {
    let tmp = temp_path(path);
    let r = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp);
    let _ = fs::remove_file(&tmp);
    r.map(drop).map_err(|error| StateError::Io {
        path: path.display().to_string(),
        error,
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "state".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
