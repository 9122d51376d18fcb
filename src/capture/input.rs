//! Opening inputs: a capture file is memory-mapped; stdin, pipes and gzip-compressed files are
//! spooled (with a cap) to an unlinked temporary file and mapped, so reading them costs page
//! cache, not heap. `expand.rs` turns the command line's paths into the list of files;
//! `guard.rs` turns a mapped file truncated under the reader into a clear error. What the bytes
//! mean is `file.rs`'s.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

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
/// stdin, pipes and gzip (`Owned` only for an empty input, and for callers' own bytes).
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

/// How inputs are opened.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// Most bytes copied to a temporary file from stdin, a FIFO or a gzip decompressor.
    pub max_spool_bytes: u64,
}

/// Default `--max-spool-gib`.
pub const DEFAULT_MAX_SPOOL_BYTES: u64 = 16 << 30;

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            max_spool_bytes: DEFAULT_MAX_SPOOL_BYTES,
        }
    }
}

/// Opens `path` (`-` = stdin), decompressing gzip transparently, with the default options.
pub fn open(path: &Path) -> Result<Input, CaptureError> {
    open_with(path, OpenOptions::default())
}

/// Opens `path`: a regular file is mapped; stdin (`-`), FIFOs, `/dev/stdin` and process
/// substitutions (`<(cmd)`) are spooled to an unlinked temporary file first, as is the
/// decompressed content of gzip input. Spooling stops with an error past
/// `opts.max_spool_bytes`, and when no temporary file can be made (never into memory).
pub fn open_with(path: &Path, opts: OpenOptions) -> Result<Input, CaptureError> {
    let name = path.display().to_string();
    let io = |error| CaptureError::Io {
        path: name.clone(),
        error,
    };
    let spooled = |e: SpoolError, what: &str| spool_error(e, &name, what, opts.max_spool_bytes);
    let input = if path == Path::new("-") {
        spool(&mut std::io::stdin().lock(), opts.max_spool_bytes)
            .map_err(|e| spooled(e, "standard input"))?
    } else {
        let mut file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            // A pipe or a character device: its length says nothing.
            spool(&mut file, opts.max_spool_bytes).map_err(|e| spooled(e, "the input"))?
        } else if meta.len() == 0 {
            Input::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only. A file truncated underneath us by another process
            // faults (SIGBUS) on the lost pages: `guard` turns that into a clear error exit.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
            let _ = map.advise(memmap2::Advice::Sequential);
            super::guard::watch(&map, &name);
            Input::Mapped(map)
        }
    };
    if input.bytes().starts_with(&[0x1f, 0x8b]) {
        let mut decoder = flate2::read::MultiGzDecoder::new(input.bytes());
        return spool(&mut decoder, opts.max_spool_bytes).map_err(|e| match e {
            SpoolError::Read(e) => CaptureError::NotACapture {
                path: name.clone(),
                detail: format!("gzip data is corrupt: {e}"),
            },
            e => spooled(e, "the decompressed capture"),
        });
    }
    Ok(input)
}

enum SpoolError {
    Read(std::io::Error),
    Write(std::io::Error),
    /// No temporary file could be made.
    Temp(std::io::Error),
    /// More than the cap.
    TooLarge,
}

fn spool_error(e: SpoolError, name: &str, what: &str, cap: u64) -> CaptureError {
    let io = |error| CaptureError::Io {
        path: name.to_string(),
        error,
    };
    match e {
        SpoolError::Read(e) | SpoolError::Write(e) => io(e),
        SpoolError::Temp(e) => io(std::io::Error::new(
            e.kind(),
            format!(
                "cannot make a temporary file to copy {what} into, in {} (TMPDIR): {e}; set \
                 TMPDIR to a writable directory",
                std::env::temp_dir().display()
            ),
        )),
        SpoolError::TooLarge => io(std::io::Error::other(format!(
            "{what} is larger than --max-spool-gib ({}): refused rather than cut short; raise \
             the limit, or decompress or save it to a file first",
            gib(cap)
        ))),
    }
}

fn gib(bytes: u64) -> String {
    let g = bytes as f64 / (1u64 << 30) as f64;
    if g >= 1.0 && g.fract() == 0.0 {
        format!("{g} GiB")
    } else {
        format!("{bytes} bytes")
    }
}

/// Copies `reader` into an unlinked temporary file (`tempfile::tempfile`: created exclusively
/// in TMPDIR and never reachable by name) and maps it, so stdin and decompressed input cost
/// page cache, not resident memory (`Input::release` drops their pages behind the reader as
/// for a file). More than `limit` bytes is an error, not a silent cut.
fn spool(reader: &mut dyn Read, limit: u64) -> Result<Input, SpoolError> {
    use std::io::Write;
    let file = tempfile::tempfile().map_err(SpoolError::Temp)?;
    let mut reader = reader.take(limit.saturating_add(1));
    let mut out = std::io::BufWriter::with_capacity(1 << 16, &file);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SpoolError::Read(e)),
        };
        total += n as u64;
        if total > limit {
            return Err(SpoolError::TooLarge);
        }
        out.write_all(&buf[..n]).map_err(SpoolError::Write)?;
    }
    out.flush().map_err(SpoolError::Write)?;
    drop(out);
    if total == 0 {
        return Ok(Input::Owned(Vec::new()));
    }
    // SAFETY: read-only map of a file only this process can reach (it is unlinked).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(SpoolError::Write)?;
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Input::Mapped(map))
}
