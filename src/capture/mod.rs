//! Packet sources: the first stage. A source hands out `Packet`s (time, Wireshark frame number,
//! link type, bytes) when a runtime asks for them: `file::FileReader` iterates a capture held
//! in memory (`input` opens files, stdin, pipes and gzip; `expand` lists the files of the
//! command line's paths), `live::LiveSource` (cargo feature "live")
//! an interface. Everything downstream is the same for files and live capture.

#[cfg(feature = "ebpf")]
pub mod ebpf;
pub mod expand;
#[cfg(feature = "live")]
pub mod fanout;
pub mod file;
mod guard;
pub mod input;
#[cfg(feature = "live")]
pub mod live;
#[cfg(feature = "live")]
pub mod ring;

use crate::time::Timestamp;

/// Link-layer header types as written in capture files (LINKTYPE_* values).
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const PPP: u32 = 9;
    pub const RAW_DLT_OPENBSD: u32 = 14;
    pub const RAW_DLT_LINUX: u32 = 12;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// One captured packet, borrowed from the source's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub time: Timestamp,
    /// 1-based, as Wireshark numbers frames within one file.
    pub frame: u64,
    pub linktype: u32,
    pub data: &'a [u8],
    /// Length on the wire; larger than `data.len()` when the capture cut the packet (snaplen).
    pub orig_len: u32,
}
