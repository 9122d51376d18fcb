//! The counters of a live capture: the socket's, and the kernel part's (socket filter and
//! `--xdp`).

/// libpcap's counters since the capture opened (wider than libpcap's wrapping u32s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u64,
    pub dropped_by_kernel: u64,
    pub dropped_by_interface: u64,
}

/// What the kernel-side bypass did (see `capture::ebpf`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BypassStats {
    /// Packets the program looked at (everything the socket would have received).
    pub seen: u64,
    /// ... of which dropped in the kernel because their connection was bypassed.
    pub bypassed: u64,
    /// ... and IPv4 packets other than TCP dropped in the kernel (the filter is `tcp`).
    pub prefiltered: u64,
    /// Directions of connections written into the map by the sensor.
    pub inserted: u64,
    /// ... that the kernel removed on a SYN, FIN or RST.
    pub forgotten: u64,
    /// Directions in the map now.
    pub entries: u64,
    /// Directions the full map dropped to make room (least recently used first).
    pub evicted: u64,
    /// Writes the kernel refused.
    pub insert_errors: u64,
    /// `--xdp`: the XDP program on the interface.
    pub xdp: Option<XdpStats>,
}

/// Reads the counters of a kernel part shared by several capture sockets, from any thread.
pub type BypassReader = Box<dyn Fn() -> BypassStats + Send>;

/// What the XDP program of `--xdp` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// "driver" or "generic" XDP.
    pub mode: &'static str,
    /// Packets it looked at (everything the interface received).
    pub seen: u64,
    /// ... of which dropped (for every consumer) as bypassed.
    pub dropped: u64,
}

impl BypassStats {
    /// The sum of two capture handles' counters (a capture reopened after an interruption).
    pub fn add(&self, o: &BypassStats) -> BypassStats {
        BypassStats {
            seen: self.seen + o.seen,
            bypassed: self.bypassed + o.bypassed,
            prefiltered: self.prefiltered + o.prefiltered,
            inserted: self.inserted + o.inserted,
            forgotten: self.forgotten + o.forgotten,
            entries: self.entries + o.entries,
            evicted: self.evicted + o.evicted,
            insert_errors: self.insert_errors + o.insert_errors,
            xdp: match (self.xdp, o.xdp) {
                (Some(a), Some(b)) => Some(XdpStats {
                    mode: b.mode,
                    seen: a.seen + b.seen,
                    dropped: a.dropped + b.dropped,
                }),
                (a, b) => b.or(a),
            },
        }
    }
}
