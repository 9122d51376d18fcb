//! The command line's paths → the files to read, in order. A file named on the command line is
//! read whatever its name and fails clearly if it is not a capture; a directory is searched
//! (recursively, sorted by name) and its files are recognised by their first bytes (pcap,
//! pcapng, or gzip holding either), not by their names, so `tcpdump -C` rotations (`x.pcap1`),
//! `tcpdump -G` names without an extension and upper-case names are read. What a directory
//! holds that is not a capture (empty, unreadable, other content, not a regular file) is
//! skipped and listed. Each file is read once (by device and inode: the same file given twice,
//! or reached through a link, is warned about), and each directory is entered once, so symbolic
//! link loops end.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::input::CaptureError;

/// A file of a directory that is not read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What to read, what was skipped, and what the user should know about it.
#[derive(Debug, Default)]
pub struct Expanded {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<String>,
}

#[derive(Default)]
struct Walk {
    out: Expanded,
    /// Files taken, by (device, inode), with the name they were taken under.
    files: HashMap<(u64, u64), PathBuf>,
    dirs: HashSet<(u64, u64)>,
}

/// Expands `paths` (see the module doc). A path on the command line that does not exist or a
/// directory there that cannot be listed is an error.
pub fn expand(paths: &[PathBuf]) -> Result<Expanded, CaptureError> {
    let mut w = Walk::default();
    for p in paths {
        if p.as_os_str() == "-" {
            w.out.files.push(p.clone());
            continue;
        }
        let meta = fs::metadata(p).map_err(|error| CaptureError::Io {
            path: p.display().to_string(),
            error,
        })?;
        if meta.is_dir() {
            w.dir(p, &meta, true)?;
        } else {
            w.take(p, &meta);
        }
    }
    Ok(w.out)
}

impl Walk {
    /// Takes a file unless it was taken already.
    fn take(&mut self, p: &Path, meta: &fs::Metadata) {
        if meta.is_file() {
            if let Some(first) = self.files.get(&(meta.dev(), meta.ino())) {
                self.out.warnings.push(format!(
                    "{} is the same file as {}: read once",
                    p.display(),
                    first.display()
                ));
                return;
            }
            self.files.insert((meta.dev(), meta.ino()), p.to_path_buf());
        }
        self.out.files.push(p.to_path_buf());
    }

    fn skip(&mut self, p: &Path, reason: String) {
        self.out.skipped.push(Skipped {
            path: p.display().to_string(),
            reason,
        });
    }

    fn dir(&mut self, p: &Path, meta: &fs::Metadata, top: bool) -> Result<(), CaptureError> {
        if !self.dirs.insert((meta.dev(), meta.ino())) {
            self.out.warnings.push(format!(
                "{}: directory already searched (a symbolic link loop, or given twice): skipped",
                p.display()
            ));
            return Ok(());
        }
        let entries = match fs::read_dir(p) {
            Ok(e) => e,
            Err(error) if top => {
                return Err(CaptureError::Io {
                    path: p.display().to_string(),
                    error,
                })
            }
            Err(e) => {
                self.skip(p, format!("directory cannot be read: {e}"));
                return Ok(());
            }
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            let meta = match fs::metadata(&e) {
                Ok(m) => m,
                Err(err) => {
                    self.skip(&e, format!("unreadable: {err}"));
                    continue;
                }
            };
            if meta.is_dir() {
                self.dir(&e, &meta, false)?;
            } else if !meta.is_file() {
                self.skip(&e, "not a regular file".into());
            } else if meta.len() == 0 {
                self.skip(&e, "empty".into());
            } else {
                match sniff(&e) {
                    Ok(()) => self.take(&e, &meta),
                    Err(reason) => self.skip(&e, reason),
                }
            }
        }
        Ok(())
    }
}

/// Ok when the file starts like a capture: pcap (either byte order, µs or ns), pcapng, or
/// gzip whose content starts like one of those.
pub fn sniff(p: &Path) -> Result<(), String> {
    let mut head = [0u8; 4];
    let mut f = fs::File::open(p).map_err(|e| format!("unreadable: {e}"))?;
    read_head(&mut f, &mut head).map_err(|e| format!("unreadable: {e}"))?;
    if head[..2] == [0x1f, 0x8b] {
        let mut f = fs::File::open(p).map_err(|e| format!("unreadable: {e}"))?;
        let mut gz = flate2::read::MultiGzDecoder::new(&mut f);
        let mut inner = [0u8; 4];
        return match read_head(&mut gz, &mut inner) {
            Ok(4) if is_capture_magic(inner) => Ok(()),
            Ok(_) => Err("gzip-compressed, but not a pcap or pcapng capture inside".into()),
            Err(e) => Err(format!("gzip data is corrupt: {e}")),
        };
    }
    if is_capture_magic(head) {
        Ok(())
    } else {
        Err(format!(
            "not a pcap or pcapng capture (starts with {})",
            head.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ))
    }
}

fn read_head(r: &mut dyn Read, buf: &mut [u8; 4]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn is_capture_magic(m: [u8; 4]) -> bool {
    matches!(
        u32::from_le_bytes(m),
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0x0a0d_0d0a
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_magics_of_both_byte_orders_and_pcapng_are_recognised() {
        for m in [
            [0xd4, 0xc3, 0xb2, 0xa1],
            [0xa1, 0xb2, 0xc3, 0xd4],
            [0x4d, 0x3c, 0xb2, 0xa1],
            [0xa1, 0xb2, 0x3c, 0x4d],
            [0x0a, 0x0d, 0x0d, 0x0a],
        ] {
            assert!(is_capture_magic(m), "{m:?}");
        }
        assert!(!is_capture_magic(*b"{\"fo"));
    }
}
