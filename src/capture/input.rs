//! Opening inputs: a capture file is memory-mapped; stdin and gzip-compressed files are spooled
//! to an unlinked temporary file and mapped, so reading them costs page cache, not heap.
//! Directories expand into the capture files they hold. What the bytes mean is `file.rs`'s.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Decompressed gzip input larger than this is refused.
pub const MAX_GZIP_BYTES: u64 = 4 << 30;

/// Why a capture file could not be read at all.
#[derive(Debug)]
pub enum CaptureError {
    /// The OS refused to open or read the file.
    Io { path: String, error: std::io::Error },
    /// The bytes are not pcap, pcapng or gzip-compressed pcap (caused by the user's input).
    NotACapture { path: String, detail: String },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io { path, error } => write!(f, "{path}: {error}"),
            CaptureError::NotACapture { path, detail } => {
                write!(f, "{path}: not a pcap or pcapng capture ({detail})")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

/// The bytes of one input: a memory map of the file, or of an unlinked temporary copy for
/// stdin and gzip (a buffer only when no temporary file can be made).
pub enum Input {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// Consumed pages are handed back every this many bytes (see `Input::release`).
pub const RELEASE_EVERY: usize = 16 << 20;

impl Input {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Owned(v) => v,
        }
    }

    /// Drops the mapping's pages before `upto` from this process's resident set, so reading a
    /// capture of any size costs bounded memory. The pages stay in the page cache; a later
    /// access (a worker still holding a segment) faults them back in with the same bytes.
    pub fn release(&self, upto: usize) {
        if let Input::Mapped(m) = self {
            let page = 4096;
            let len = (upto.min(m.len()) / page) * page;
            if len > 0 {
                // SAFETY: the map is a read-only, file-backed private mapping: MADV_DONTNEED only
                // discards resident pages, which are re-read from the file on the next access.
                let _ =
                    unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, len) };
            }
        }
    }
}

/// Opens `path` (`-` = stdin), decompressing gzip transparently.
pub fn open(path: &Path) -> Result<Input, CaptureError> {
    let name = path.display().to_string();
    let io = |error| CaptureError::Io {
        path: name.clone(),
        error,
    };
    let input = if path == Path::new("-") {
        spool(&mut std::io::stdin().lock(), u64::MAX).map_err(|e| match e {
            SpoolError::Read(e) | SpoolError::Write(e) => io(e),
        })?
    } else {
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            Input::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only; a file truncated underneath us by another process
            // is the one risk, as with every mmap reader.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
            let _ = map.advise(memmap2::Advice::Sequential);
            Input::Mapped(map)
        }
    };
    if input.bytes().starts_with(&[0x1f, 0x8b]) {
        let mut decoder = flate2::read::MultiGzDecoder::new(input.bytes());
        return spool(&mut decoder, MAX_GZIP_BYTES).map_err(|e| match e {
            SpoolError::Read(e) => CaptureError::NotACapture {
                path: name.clone(),
                detail: format!("gzip data is corrupt: {e}"),
            },
            SpoolError::Write(e) => io(e),
        });
    }
    Ok(input)
}

enum SpoolError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies at most `limit` bytes of `reader` into an unlinked temporary file and maps it, so
/// stdin and decompressed input cost page cache, not resident memory (`Input::release` drops
/// their pages behind the reader as for a file). Falls back to memory when no temporary file
/// can be made.
fn spool(reader: &mut dyn Read, limit: u64) -> Result<Input, SpoolError> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = std::env::temp_dir().join(format!(
        "stekwatch-{}-{}.spool",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp);
    let Ok(file) = file else {
        let mut buf = Vec::new();
        reader
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(SpoolError::Read)?;
        return Ok(Input::Owned(buf));
    };
    // Unlinked at once: the file lives as long as the handle and the map.
    let _ = std::fs::remove_file(&tmp);
    let mut reader = reader.take(limit);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, &file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SpoolError::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(SpoolError::Write)?;
    }
    out.flush().map_err(SpoolError::Write)?;
    drop(out);
    if file.metadata().map_err(SpoolError::Write)?.len() == 0 {
        return Ok(Input::Owned(Vec::new()));
    }
    // SAFETY: read-only map of a file only this process can reach (it is unlinked).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(SpoolError::Write)?;
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Input::Mapped(map))
}

/// Expands directories (recursively, sorted) into the capture files they hold.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CaptureError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|error| CaptureError::Io {
                    path: p.display().to_string(),
                    error,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let files: Vec<PathBuf> = entries
                .into_iter()
                .filter(|e| e.is_dir() || looks_like_capture_name(e))
                .collect();
            out.extend(expand_paths(&files)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn looks_like_capture_name(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".dmp"]
        .iter()
        .any(|ext| name.ends_with(ext))
}
