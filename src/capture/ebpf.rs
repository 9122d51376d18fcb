//! The kernel-side bypass (cargo feature "ebpf"): an eBPF socket filter (bypass.bpf.c, built
//! by build.rs with clang, loaded with aya) attached to the live capture's own AF_PACKET
//! socket. Packets of connections written into its LRU map are dropped for that socket only;
//! SYN, FIN and RST always pass and make the kernel forget the connection. The sensor writes a
//! connection once it has read what it wants of it (the flow table bypasses it).
//!
//! The map holds one entry per connection (`FlowKey`, both directions under one key), at most
//! `MAX_ENTRIES`; when it is full
//! the kernel evicts the least recently used, whose packets then reach userland again (where
//! the flow table drops them as before): an eviction costs speed, never a finding.

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::{SocketFilter, Xdp, XdpFlags};
use aya::Ebpf;

use super::live::{BypassStats, XdpStats};

pub mod steer;

/// The map's size in connections; must match bypass.bpf.c.
pub const MAX_ENTRIES: u32 = 131_072;

/// A connection as the program keys it (see `struct flow_key`): its two endpoints, the lower
/// first, so both directions find the same entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowKey {
    /// Address words as loaded from the wire (native order of the bytes on the wire).
    lo: [u32; 4],
    hi: [u32; 4],
    /// Network byte order.
    lo_port: u16,
    hi_port: u16,
    family: u8,
    pad: [u8; 3],
}

// SAFETY: plain data with explicit padding, every bit pattern valid.
unsafe impl aya::Pod for FlowKey {}

/// An address as the program loads it: the wire bytes in 32-bit words, IPv4 in the first.
fn words(octets: &[u8]) -> [u32; 4] {
    let mut w = [0u32; 4];
    for (w, c) in w.iter_mut().zip(octets.chunks(4)) {
        *w = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    }
    w
}

impl FlowKey {
    /// The connection between `a` and `b` (either order); `None` when their families differ.
    fn new(a: SocketAddr, b: SocketAddr) -> Option<Self> {
        let (x, y, family) = match (a, b) {
            (SocketAddr::V4(x), SocketAddr::V4(y)) => {
                (words(&x.ip().octets()), words(&y.ip().octets()), 4)
            }
            (SocketAddr::V6(x), SocketAddr::V6(y)) => {
                (words(&x.ip().octets()), words(&y.ip().octets()), 6)
            }
            _ => return None,
        };
        let (xp, yp) = (a.port().to_be(), b.port().to_be());
        // The order of `endpoint_after` in bypass.bpf.c: words, then the port as stored.
        let ((lo, lo_port), (hi, hi_port)) = if (x, xp) > (y, yp) {
            ((y, yp), (x, xp))
        } else {
            ((x, xp), (y, yp))
        };
        Some(FlowKey {
            lo,
            hi,
            lo_port,
            hi_port,
            family,
            pad: [0; 3],
        })
    }
}

/// Slots of the program's per-CPU counters (`C_*` in bypass.bpf.c).
const C_SEEN: u32 = 0;
const C_BYPASSED: u32 = 1;
const C_FORGOTTEN: u32 = 2;
const C_PREFILTERED: u32 = 3;
const C_XDP_SEEN: u32 = 4;
const C_XDP_DROPPED: u32 = 5;
/// Bits of the program's `config` (`CF_*`).
const CF_TCP_FILTER: u32 = 1;

/// Why the kernel part could not be attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BypassError(pub String);

impl fmt::Display for BypassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BypassError {}

static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bypass.bpf.o"));

/// The program attached to capture sockets (it stays there until they close), and with
/// `--xdp` the XDP program on the interface (detached when this value drops).
pub struct KernelBypass {
    /// Owns the program (and its link to the socket) and the maps' file descriptors.
    _ebpf: Ebpf,
    flows: HashMap<MapData, FlowKey, u64>,
    counters: PerCpuArray<MapData, u64>,
    inserted: u64,
    insert_errors: u64,
    /// `--xdp`: how the XDP program is attached to the interface ("driver" or "generic").
    xdp_mode: Option<&'static str>,
}

/// `e` with its causes, and what to do about a missing privilege or kernel feature.
pub fn privilege_hint(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let inner_text = inner.to_string();
        if !s.contains(&inner_text) {
            s.push_str(": ");
            s.push_str(&inner_text);
        }
        src = inner.source();
    }
    let l = s.to_ascii_lowercase();
    if l.contains("not permitted") || l.contains("permission denied") {
        s.push_str(" (loading eBPF needs root, or CAP_BPF and CAP_NET_ADMIN)");
    } else if l.contains("function not implemented") || l.contains("invalid argument") {
        s.push_str(" (this kernel lacks the eBPF support needed: socket filters, LRU hash maps)");
    }
    s
}

impl KernelBypass {
    /// Loads the program and attaches it to the AF_PACKET sockets `fds` (one, or the rings of
    /// a fanout group; it replaces their classic filter). The flow map is shared by every
    /// socket. With `tcp_filter` (the user's filter is `tcp`: `super::live::kernel_runs_filter`)
    /// the program applies that filter; otherwise the caller applies the user's filter in
    /// userspace.
    pub fn attach(fds: &[RawFd], tcp_filter: bool) -> Result<Self, BypassError> {
        let err = |what: &str, e: &dyn std::error::Error| {
            BypassError(format!("{what}: {}", privilege_hint(e)))
        };
        let mut ebpf = Ebpf::load(PROGRAM).map_err(|e| err("loading the eBPF object", &e))?;
        let prog: &mut SocketFilter = ebpf
            .program_mut("stekwatch_bypass")
            .ok_or_else(|| BypassError("the eBPF object lacks its program".into()))?
            .try_into()
            .map_err(|e| err("the eBPF program", &e))?;
        prog.load()
            .map_err(|e| err("loading the eBPF program", &e))?;
        // Settings first, then the socket.
        let mut config: Array<_, u32> = Array::try_from(
            ebpf.map_mut("config")
                .ok_or_else(|| BypassError("the eBPF object lacks its settings".into()))?,
        )
        .map_err(|e| err("the settings map", &e))?;
        let flags = if tcp_filter { CF_TCP_FILTER } else { 0 };
        config
            .set(0, flags, 0)
            .map_err(|e| err("writing the program's settings", &e))?;
        let prog: &mut SocketFilter = ebpf
            .program_mut("stekwatch_bypass")
            .ok_or_else(|| BypassError("the eBPF object lacks its program".into()))?
            .try_into()
            .map_err(|e| err("the eBPF program", &e))?;
        for &fd in fds {
            // SAFETY: `fd` is an open capture socket; it outlives this call.
            let sock = unsafe { BorrowedFd::borrow_raw(fd) };
            let link = prog
                .attach(sock)
                .map_err(|e| err("attaching the eBPF program to the capture socket", &e))?;
            // Taken out of the program, the link is never detached by this side: the program
            // stays on the socket until the socket closes (the kernel then drops it), whereas
            // the program's own detach at drop could name a descriptor already closed and
            // reused when the sockets of a fanout group close in any order.
            prog.take_link(link)
                .map_err(|e| err("the eBPF program's link", &e))?;
        }
        let flows = HashMap::try_from(
            ebpf.take_map("bypassed")
                .ok_or_else(|| BypassError("the eBPF object lacks its flow map".into()))?,
        )
        .map_err(|e| err("the flow map", &e))?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map("counters")
                .ok_or_else(|| BypassError("the eBPF object lacks its counters".into()))?,
        )
        .map_err(|e| err("the counters", &e))?;
        Ok(KernelBypass {
            _ebpf: ebpf,
            flows,
            counters,
            inserted: 0,
            insert_errors: 0,
            xdp_mode: None,
        })
    }

    /// `--xdp`: attaches the same decision, sharing the flow map, as an XDP program on
    /// `interface` (in the driver if it can, else generic XDP), so the packets of bypassed
    /// connections are dropped before the kernel allocates them, for every consumer of the
    /// interface. Detached when this value drops.
    pub fn attach_xdp(&mut self, interface: &str) -> Result<&'static str, BypassError> {
        let err = |what: &str, e: &dyn std::error::Error| {
            BypassError(format!("{what}: {}", privilege_hint(e)))
        };
        let prog: &mut Xdp = self
            ._ebpf
            .program_mut("stekwatch_xdp")
            .ok_or_else(|| BypassError("the eBPF object lacks its XDP program".into()))?
            .try_into()
            .map_err(|e| err("the XDP program", &e))?;
        prog.load()
            .map_err(|e| err("loading the XDP program", &e))?;
        let mode = match prog.attach(interface, XdpFlags::DRV_MODE) {
            Ok(_) => "driver",
            Err(_) => {
                prog.attach(interface, XdpFlags::SKB_MODE)
                    .map_err(|e| err("attaching the XDP program to the interface", &e))?;
                "generic"
            }
        };
        self.xdp_mode = Some(mode);
        Ok(mode)
    }

    /// How the XDP program of `--xdp` is attached, when it is.
    pub fn xdp_mode(&self) -> Option<&'static str> {
        self.xdp_mode
    }

    /// Drops the connection between `a` and `b` (both directions) in the kernel from now on.
    pub fn bypass(&mut self, a: SocketAddr, b: SocketAddr) {
        let Some(k) = FlowKey::new(a, b) else {
            return;
        };
        match self.flows.insert(k, 0, 0) {
            Ok(()) => self.inserted += 1,
            Err(_) => self.insert_errors += 1,
        }
    }

    fn counter(&self, slot: u32) -> u64 {
        self.counters
            .get(&slot, 0)
            .map(|v| v.iter().copied().fold(0u64, u64::saturating_add))
            .unwrap_or(0)
    }

    /// The counters now (walks the map to count its entries: call it at health time, not
    /// per packet).
    pub fn stats(&self) -> BypassStats {
        let entries = self.flows.keys().filter(|k| k.is_ok()).count() as u64;
        let forgotten = self.counter(C_FORGOTTEN);
        BypassStats {
            seen: self.counter(C_SEEN),
            bypassed: self.counter(C_BYPASSED),
            prefiltered: self.counter(C_PREFILTERED),
            inserted: self.inserted,
            forgotten,
            entries,
            evicted: self
                .inserted
                .saturating_sub(forgotten)
                .saturating_sub(entries),
            insert_errors: self.insert_errors,
            xdp: self.xdp_mode.map(|mode| XdpStats {
                mode,
                seen: self.counter(C_XDP_SEEN),
                dropped: self.counter(C_XDP_DROPPED),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_has_one_key_for_both_directions_with_the_lower_endpoint_first() {
        let server: SocketAddr = "192.0.2.1:443".parse().unwrap();
        let client: SocketAddr = "198.51.100.7:50000".parse().unwrap();
        let k = FlowKey::new(client, server).unwrap();
        assert_eq!(Some(k), FlowKey::new(server, client));
        // As bypass.bpf.c loads them: the wire bytes, IPv4 in the first word.
        assert_eq!(k.lo[0].to_ne_bytes(), [192, 0, 2, 1]);
        assert_eq!(k.hi[0].to_ne_bytes(), [198, 51, 100, 7]);
        assert_eq!(&k.lo[1..], &[0, 0, 0]);
        assert_eq!(k.lo_port.to_ne_bytes(), [0x01, 0xbb]);
        assert_eq!(k.hi_port.to_ne_bytes(), [0xc3, 0x50]);
        assert_eq!(k.family, 4);
        assert_eq!(std::mem::size_of::<FlowKey>(), 40);
        // Same address: the port decides, compared as stored (network order).
        let a: SocketAddr = "[2001:db8::1]:256".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let k = FlowKey::new(a, b).unwrap();
        assert_eq!(k, FlowKey::new(b, a).unwrap());
        assert!(k.lo_port <= k.hi_port);
        assert_eq!(k.family, 6);
        assert!(FlowKey::new(server, "[2001:db8::1]:443".parse().unwrap()).is_none());
    }
}
