//! The capture socket used while the kernel-side bypass is attached, and by every worker of
//! `live -j N`: an AF_PACKET socket with a TPACKET_V3 ring of small blocks, opened here
//! rather than by libpcap (which can neither size blocks nor join a fanout group). libpcap's
//! TPACKET_V3 blocks are 256 KiB, so a connection's handshake reaches the sensor only after about 170 full-sized packets have followed it, and at line rate most of
//! the connection is in the ring before the sensor can tell the kernel to drop it. Blocks of
//! `BLOCK_BYTES` (and the kernel's 1 ms block timeout) cut that delay to a few dozen packets
//! while keeping one wake-up per block, not per packet.
//!
//! A packet larger than a block's room (`max_packet`) is cut to it, counted as cut by
//! --snaplen downstream (`orig_len` is the length on the wire).
//!
//! Several rings can share a fanout group (`Fanout`, with defragmentation): the kernel's
//! symmetric hash, or the steering program of `capture::ebpf::steer`, puts both directions of
//! a connection in the same ring. A ring drops everything until its caller's filter is attached (a drop-all
//! classic filter first), so no packet reaches two rings of a group, and every packet the ring
//! takes went through the eBPF program's counters.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, Ordering};

/// Bytes per ring block.
pub const BLOCK_BYTES: usize = 64 << 10;
/// The kernel hands over a block this long after its first packet even when it is not full.
const RETIRE_MS: u32 = 1;
/// Where a block's `block_status` and `num_pkts` lie (after `version`, `offset_to_priv`).
const STATUS_AT: usize = 8;

/// `ret #0`: a classic filter that takes no packet.
const DROP_ALL: libc::sock_filter = libc::sock_filter {
    code: 0x06,
    jt: 0,
    jf: 0,
    k: 0,
};

/// One packet borrowed from the ring.
pub struct RingPacket<'a> {
    pub sec: u32,
    pub nsec: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
}

pub struct Ring {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    blocks: usize,
    /// The block being read, and (when `held`) what is left of it.
    cur: usize,
    held: bool,
    left: u32,
    off: usize,
    /// The kernel's counters, accumulated (reading them resets them).
    received: u64,
    dropped: u64,
}

// SAFETY: the mapping belongs to this value alone; moving it to another thread is sound.
unsafe impl Send for Ring {}

fn last_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, v: &T, what: &str) -> io::Result<()> {
    // SAFETY: `v` points to a live value of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(last_err(what));
    }
    Ok(())
}

/// How the rings of a fanout group share the packets (IPv4 fragments reassembled first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// The kernel's symmetric flow hash of the outermost headers.
    Hash(u16),
    /// A program given to the group once the rings joined (`capture::ebpf::steer`); until
    /// then every packet goes to the first ring.
    Program(u16),
}

impl Ring {
    /// Opens a promiscuous capture of every protocol on `interface` with a ring of about
    /// `buffer_bytes`, which takes nothing until the caller attaches a filter
    /// (`attach_classic`, or an eBPF program); with `fanout`, the ring joins that group.
    pub fn open(interface: &str, buffer_bytes: usize, fanout: Option<Fanout>) -> io::Result<Ring> {
        let name = std::ffi::CString::new(interface)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(last_err("the interface's index"));
        }
        // Protocol 0: nothing is received before the bind below names the interface.
        // SAFETY: plain system call.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(last_err("socket(AF_PACKET)"));
        }
        // SAFETY: a descriptor just created and owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        setsockopt(raw, libc::PACKET_VERSION, &version, "TPACKET_V3")?;
        let blocks = (buffer_bytes / BLOCK_BYTES).max(8);
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_BYTES as u32,
            tp_block_nr: blocks as u32,
            tp_frame_size: BLOCK_BYTES as u32,
            tp_frame_nr: blocks as u32,
            tp_retire_blk_tov: RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(raw, libc::PACKET_RX_RING, &req, "the packet ring")?;
        let map_len = blocks * BLOCK_BYTES;
        // SAFETY: maps the ring the kernel just allocated for this socket.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                raw,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(last_err("mapping the packet ring"));
        }
        let ring = Ring {
            fd,
            map: map.cast(),
            map_len,
            blocks,
            cur: 0,
            held: false,
            left: 0,
            off: 0,
            received: 0,
            dropped: 0,
        };
        let mreq = libc::packet_mreq {
            mr_ifindex: ifindex as libc::c_int,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        setsockopt(raw, libc::PACKET_ADD_MEMBERSHIP, &mreq, "promiscuous mode")?;
        // Nothing is taken until the caller's filter replaces this one: no packet escapes the
        // eBPF program's counters, and none reaches two rings of a fanout group.
        ring.attach_classic(&[DROP_ALL])?;
        // SAFETY: zeroed sockaddr_ll is a valid value; the fields that matter are set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `sll` is a valid sockaddr_ll of the length passed.
        let r = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(last_err("binding to the interface"));
        }
        if let Some(f) = fanout {
            let (group, mode) = match f {
                Fanout::Hash(g) => (g, libc::PACKET_FANOUT_HASH),
                Fanout::Program(g) => (g, libc::PACKET_FANOUT_EBPF),
            };
            let arg = u32::from(group) | ((mode | libc::PACKET_FANOUT_FLAG_DEFRAG) << 16);
            setsockopt(raw, libc::PACKET_FANOUT, &arg, "joining the fanout group")?;
        }
        Ok(ring)
    }

    /// Replaces the socket's filter with a classic BPF program (`sock_filter` instructions,
    /// as libpcap compiles them).
    pub fn attach_classic(&self, insns: &[libc::sock_filter]) -> io::Result<()> {
        let prog = libc::sock_fprog {
            len: u16::try_from(insns.len()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "the filter is too long")
            })?,
            filter: insns.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points to `insns`, alive for the call; the kernel copies them.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&prog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(last_err("attaching the filter"));
        }
        Ok(())
    }

    /// The largest packet kept whole.
    pub fn max_packet() -> usize {
        BLOCK_BYTES - 48 - std::mem::size_of::<libc::tpacket3_hdr>() - 16
    }

    fn block(&self, i: usize) -> *mut u8 {
        // SAFETY: i < blocks, so the offset stays inside the mapping.
        unsafe { self.map.add(i * BLOCK_BYTES) }
    }

    fn status(&self, i: usize) -> *mut u32 {
        // SAFETY: inside block i's descriptor, 4-byte aligned.
        unsafe { self.block(i).add(STATUS_AT).cast::<u32>() }
    }

    /// The next packet, or `None` when the kernel has handed over no more (poll the fd).
    pub fn next_packet(&mut self) -> Option<RingPacket<'_>> {
        loop {
            if self.held && self.left == 0 {
                // Back to the kernel, and on to the next block.
                fence(Ordering::Release);
                // SAFETY: the status word of a block this reader holds.
                unsafe { std::ptr::write_volatile(self.status(self.cur), libc::TP_STATUS_KERNEL) };
                self.held = false;
                self.cur = (self.cur + 1) % self.blocks;
            }
            if !self.held {
                // SAFETY: the status word of the current block, written by the kernel.
                let status = unsafe { std::ptr::read_volatile(self.status(self.cur)) };
                if status & libc::TP_STATUS_USER == 0 {
                    return None;
                }
                fence(Ordering::Acquire);
                let bd = self.block(self.cur);
                // SAFETY: `num_pkts` and `offset_to_first_pkt` follow the status word.
                unsafe {
                    self.left = std::ptr::read_volatile(bd.add(STATUS_AT + 4).cast::<u32>());
                    self.off =
                        std::ptr::read_volatile(bd.add(STATUS_AT + 8).cast::<u32>()) as usize;
                }
                self.held = true;
                continue;
            }
            let bd = self.block(self.cur);
            let hdr_len = std::mem::size_of::<libc::tpacket3_hdr>();
            if self.off + hdr_len > BLOCK_BYTES {
                self.left = 0;
                continue;
            }
            // SAFETY: the header lies inside the block (checked above); the kernel wrote it
            // before handing the block over.
            let h: libc::tpacket3_hdr =
                unsafe { std::ptr::read_unaligned(bd.add(self.off).cast::<libc::tpacket3_hdr>()) };
            let start = self.off + h.tp_mac as usize;
            let end = start + h.tp_snaplen as usize;
            self.left -= 1;
            let next = h.tp_next_offset as usize;
            self.off = if next == 0 {
                BLOCK_BYTES
            } else {
                self.off + next
            };
            if end > BLOCK_BYTES {
                continue;
            }
            // SAFETY: [start, end) lies inside the block, which stays ours until the next call.
            let data = unsafe { std::slice::from_raw_parts(bd.add(start), end - start) };
            return Some(RingPacket {
                sec: h.tp_sec,
                nsec: h.tp_nsec,
                data,
                orig_len: h.tp_len,
            });
        }
    }

    /// Packets the ring took and dropped for want of room, since it opened.
    pub fn stats(&mut self) -> io::Result<(u64, u64)> {
        let mut st = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `st` is writable for `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats_v3).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(last_err("the ring's counters"));
        }
        // tp_packets counts the dropped ones too.
        self.received += u64::from(st.tp_packets);
        self.dropped += u64::from(st.tp_drops);
        Ok((self.received, self.dropped))
    }
}

impl AsRawFd for Ring {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.map.cast(), self.map_len) };
    }
}
