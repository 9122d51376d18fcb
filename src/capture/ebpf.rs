//! The kernel-side bypass (cargo feature "ebpf"): an eBPF socket filter (bypass.bpf.c, built
//! by build.rs with clang, loaded with aya) attached to the live capture's own AF_PACKET
//! socket. Packets of connections written into its LRU map are dropped for that socket only;
//! SYN, FIN and RST always pass and make the kernel forget the connection. The sensor writes a
//! connection once it has read what it wants of it (the flow table bypasses it).
//!
//! The map holds one entry per direction (`FlowDir`), at most `MAX_ENTRIES`; when it is full
//! the kernel evicts the least recently used, whose packets then reach userland again (where
//! the flow table drops them as before): an eviction costs speed, never a finding.

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::{SocketFilter, Xdp, XdpFlags};
use aya::Ebpf;

use super::live::{BypassStats, XdpStats};

/// The map's size in directions (half as many connections); must match bypass.bpf.c.
pub const MAX_ENTRIES: u32 = 131_072;

/// One direction of a connection as the program keys it (see `struct flow_dir`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowDir {
    src: [u8; 16],
    dst: [u8; 16],
    /// Network byte order.
    sport: u16,
    dport: u16,
    family: u8,
    pad: [u8; 3],
}

// SAFETY: plain data with explicit padding, every bit pattern valid.
unsafe impl aya::Pod for FlowDir {}

impl FlowDir {
    /// The direction from `a` to `b`; `None` when their families differ.
    fn new(a: SocketAddr, b: SocketAddr) -> Option<Self> {
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        let family = match (a, b) {
            (SocketAddr::V4(x), SocketAddr::V4(y)) => {
                src[..4].copy_from_slice(&x.ip().octets());
                dst[..4].copy_from_slice(&y.ip().octets());
                4
            }
            (SocketAddr::V6(x), SocketAddr::V6(y)) => {
                src = x.ip().octets();
                dst = y.ip().octets();
                6
            }
            _ => return None,
        };
        Some(FlowDir {
            src,
            dst,
            sport: a.port().to_be(),
            dport: b.port().to_be(),
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
const CF_IPV4_TCP_ONLY: u32 = 1;

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
    flows: HashMap<MapData, FlowDir, u64>,
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
    /// a fanout group; it replaces their classic filter: the caller applies the user's filter
    /// in userspace). The flow map is shared by every socket. With
    /// `tcp_only` (the user's filter is `tcp`), IPv4 packets other than TCP are dropped in the
    /// kernel too.
    pub fn attach(fds: &[RawFd], tcp_only: bool) -> Result<Self, BypassError> {
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
        let flags = if tcp_only { CF_IPV4_TCP_ONLY } else { 0 };
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
        let (Some(ab), Some(ba)) = (FlowDir::new(a, b), FlowDir::new(b, a)) else {
            return;
        };
        for k in [ab, ba] {
            match self.flows.insert(k, 0, 0) {
                Ok(()) => self.inserted += 1,
                Err(_) => self.insert_errors += 1,
            }
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
    fn a_direction_keys_addresses_as_on_the_wire_and_ports_in_network_order() {
        let k = FlowDir::new(
            "192.0.2.1:443".parse().unwrap(),
            "198.51.100.7:50000".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(&k.src[..5], &[192, 0, 2, 1, 0]);
        assert_eq!(&k.dst[..4], &[198, 51, 100, 7]);
        assert_eq!(k.sport.to_ne_bytes(), [0x01, 0xbb]);
        assert_eq!(k.dport.to_ne_bytes(), [0xc3, 0x50]);
        assert_eq!(k.family, 4);
        assert_eq!(std::mem::size_of::<FlowDir>(), 40);
        assert!(FlowDir::new(
            "192.0.2.1:443".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap()
        )
        .is_none());
    }
}
