//! Live capture through libpcap (cargo feature "live"): opens an interface with a BPF filter,
//! snaplen, kernel buffer size and optional immediate delivery, and hands out the same
//! `Packet`s as capture files, so everything below capture is shared.
//!
//! Packets carry the interface's DLT as their link type (the decoder accepts Linux's DLT_RAW
//! 12 and OpenBSD's 14 beside LINKTYPE 101), microsecond timestamps from the kernel, and frame
//! numbers counted from 1 in this capture. The runtime pulls packets one at a time; the capture
//! is non-blocking and waited on with `poll(2)` for at most `READ_TIMEOUT_MS`, so the caller
//! regains control regularly (signals, checkpoints) even on a silent link: a blocking libpcap read may wait forever there (the
//! Linux TPACKET_V3 ring polls without a timeout and retries after signals).

use std::os::unix::io::AsRawFd;

use pcap::{Active, BpfProgram, Capture, Device};

#[cfg(feature = "ebpf")]
use super::ebpf::KernelBypass;
use super::Packet;
use crate::time::Timestamp;

mod counters;
mod error;

pub use counters::{BypassReader, BypassStats, LiveStats, XdpStats};
pub use error::LiveError;
pub(super) use error::{kernel_error, open_error};

/// How long one read waits for packets before returning empty-handed; also libpcap's timeout,
/// after which it hands over a partly filled buffer (without `--immediate`).
pub const READ_TIMEOUT_MS: i32 = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOptions {
    pub interface: String,
    /// `--xdp`: the bypass also as an XDP program on the interface (needs the kernel part).
    pub xdp: bool,
    pub filter: String,
    pub snaplen: u32,
    pub buffer_bytes: u32,
    pub immediate: bool,
    pub ebpf: EbpfMode,
}

/// Whether the capture attaches the kernel-side bypass (`capture::ebpf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EbpfMode {
    /// When it can; otherwise the capture says why not (`LiveSource::ebpf_note`) and runs
    /// without.
    #[default]
    Auto,
    /// Or the capture does not open (`LiveError::Ebpf`).
    On,
    Off,
}

/// The capture socket: libpcap's, or (with the kernel-side bypass) the ring of small blocks
/// in `capture::ring`.
pub(super) enum Handle {
    Pcap(Capture<Active>),
    Ring(super::ring::Ring),
}

impl Handle {
    fn fd(&self) -> i32 {
        match self {
            Handle::Pcap(c) => c.as_raw_fd(),
            Handle::Ring(r) => r.as_raw_fd(),
        }
    }
}

/// Why the capture with the kernel-side bypass did not open.
enum BypassOpen {
    /// The user's filter does not compile: the run stops whatever `--ebpf` says.
    #[cfg_attr(not(feature = "ebpf"), allow(dead_code))]
    Filter(LiveError),
    /// The kernel part cannot work here.
    Kernel(String),
}

/// Where the steering program of a `-j N` group (`capture::ebpf::steer`) puts connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct Steering {
    #[cfg(feature = "ebpf")]
    placement: Option<super::ebpf::steer::Placement>,
}

impl Steering {
    /// The ring (worker) the connection between `a` and `b` reaches, wherever it is
    /// tunnelled; `None` without the program (the kernel's own hash places packets by their
    /// outer headers).
    pub fn ring(&self, a: std::net::SocketAddr, b: std::net::SocketAddr) -> Option<usize> {
        #[cfg(feature = "ebpf")]
        return self.placement.and_then(|p| p.ring(a, b));
        #[cfg(not(feature = "ebpf"))]
        {
            let _ = (a, b);
            None
        }
    }
}

pub struct LiveSource {
    /// The kernel part, shared by the rings of a fanout group (one map, one program); with
    /// --xdp, its XDP program leaves the interface when the last holder drops it.
    #[cfg(feature = "ebpf")]
    bypass: Option<std::sync::Arc<std::sync::Mutex<KernelBypass>>>,
    /// With `-j N` and the steering program: which ring each connection's packets reach.
    #[cfg(feature = "ebpf")]
    placement: Option<super::ebpf::steer::Placement>,
    /// Why the kernel part is not in use (`--ebpf auto`), for the caller to say once.
    ebpf_note: Option<String>,
    /// Why `-j N` runs without the steering program while the bypass is in use.
    steering_note: Option<String>,
    /// The user's filter, compiled for userspace: the kernel part replaced it on the socket.
    userspace_filter: Option<BpfProgram>,
    last_bypass: BypassStats,
    handle: Handle,
    snaplen: usize,
    interface: String,
    linktype: u32,
    frame: u64,
    /// `poll` said the socket is readable and libpcap's buffer has not been drained since.
    ready: bool,
    got_since_poll: bool,
    poll_error: bool,
    last_raw: pcap::Stat,
    totals: LiveStats,
}

fn pcap_detail(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) if !s.is_empty() => s.clone(),
        other => other.to_string(),
    }
}

impl LiveSource {
    pub fn open(o: &LiveOptions) -> Result<Self, LiveError> {
        let open_err = |e: pcap::Error| open_error(o, pcap_detail(&e));
        Self::check_interface(o)?;
        let mut ebpf_note = None;
        if o.ebpf != EbpfMode::Off {
            match open_bypassed(o) {
                Ok(src) => return Ok(src),
                Err(BypassOpen::Filter(e)) => return Err(e),
                Err(BypassOpen::Kernel(detail)) if o.ebpf == EbpfMode::On => {
                    return Err(kernel_error(o, detail))
                }
                Err(BypassOpen::Kernel(detail)) => ebpf_note = Some(detail),
            }
        }
        let snaplen = i32::try_from(o.snaplen).unwrap_or(i32::MAX);
        let buffer = i32::try_from(o.buffer_bytes).unwrap_or(i32::MAX);
        let mut cap = Capture::from_device(o.interface.as_str())
            .map_err(open_err)?
            .promisc(true)
            .snaplen(snaplen)
            .buffer_size(buffer)
            .immediate_mode(o.immediate)
            .timeout(READ_TIMEOUT_MS)
            .open()
            .map_err(open_err)?;
        cap.filter(&o.filter, true)
            .map_err(|e| LiveError::BadFilter {
                filter: o.filter.clone(),
                detail: pcap_detail(&e),
            })?;
        let linktype = cap.get_datalink().0 as u32;
        let cap = cap.setnonblock().map_err(open_err)?;
        Ok(LiveSource::with(
            o,
            Handle::Pcap(cap),
            linktype,
            ebpf_note,
            None,
        ))
    }

    /// libpcap's own message for a missing device is vague; this one names the alternatives.
    pub(super) fn check_interface(o: &LiveOptions) -> Result<(), LiveError> {
        if let Ok(devices) = Device::list() {
            if !devices.iter().any(|d| d.name == o.interface) {
                return Err(LiveError::NoSuchInterface {
                    interface: o.interface.clone(),
                    available: devices.into_iter().map(|d| d.name).collect(),
                });
            }
        }
        Ok(())
    }

    /// The kernel part shared with the other rings of a fanout group.
    #[cfg(feature = "ebpf")]
    pub(super) fn share_bypass(
        &mut self,
        b: Option<std::sync::Arc<std::sync::Mutex<KernelBypass>>>,
    ) {
        self.bypass = b;
    }

    #[cfg(not(feature = "ebpf"))]
    pub(super) fn share_bypass(&mut self, _b: Option<std::sync::Arc<std::sync::Mutex<()>>>) {}

    #[cfg(feature = "ebpf")]
    pub(super) fn set_steering_note(&mut self, note: String) {
        self.steering_note = Some(note);
    }

    /// Why the workers of `-j N` are not steered by the kernel program, for the caller to say
    /// once.
    pub fn steering_note(&self) -> Option<&str> {
        self.steering_note.as_deref()
    }

    /// The ring placement of the group's steering program.
    #[cfg(feature = "ebpf")]
    pub(super) fn set_placement(&mut self, p: Option<super::ebpf::steer::Placement>) {
        self.placement = p;
    }

    /// Where the group's steering program puts connections (with `-j N`).
    pub fn steering(&self) -> Steering {
        Steering {
            #[cfg(feature = "ebpf")]
            placement: self.placement,
        }
    }

    pub(super) fn with(
        o: &LiveOptions,
        handle: Handle,
        linktype: u32,
        ebpf_note: Option<String>,
        userspace_filter: Option<BpfProgram>,
    ) -> Self {
        LiveSource {
            #[cfg(feature = "ebpf")]
            bypass: None,
            #[cfg(feature = "ebpf")]
            placement: None,
            ebpf_note,
            steering_note: None,
            userspace_filter,
            last_bypass: BypassStats::default(),
            handle,
            snaplen: o.snaplen as usize,
            interface: o.interface.clone(),
            linktype,
            frame: 0,
            ready: false,
            got_since_poll: false,
            poll_error: false,
            last_raw: pcap::Stat {
                received: 0,
                dropped: 0,
                if_dropped: 0,
            },
            totals: LiveStats::default(),
        }
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Why the kernel-side bypass is not in use, when it was asked for with `auto`.
    pub fn ebpf_note(&self) -> Option<&str> {
        self.ebpf_note.as_deref()
    }

    /// Whether `data` (a packet from `next_packet`) matches the user's filter. Always true
    /// without the kernel part (libpcap's filter in the kernel already chose); with it, the
    /// classic filter it replaced runs here.
    pub fn wanted(filter: Option<&BpfProgram>, data: &[u8]) -> bool {
        filter.is_none_or(|f| f.filter(data))
    }

    /// The user's filter for `wanted` when it runs in userspace (taken once per capture).
    pub fn take_userspace_filter(&mut self) -> Option<BpfProgram> {
        self.userspace_filter.take()
    }

    /// Whether the kernel-side bypass is attached to this handle's socket.
    pub fn has_kernel_part(&self) -> bool {
        #[cfg(feature = "ebpf")]
        return self.bypass.is_some();
        #[cfg(not(feature = "ebpf"))]
        false
    }

    /// Drops the connection between `a` and `b` in the kernel from now on (without the
    /// kernel part, nothing).
    pub fn bypass(&mut self, a: std::net::SocketAddr, b: std::net::SocketAddr) {
        #[cfg(feature = "ebpf")]
        if let Some(k) = self.bypass.as_ref() {
            k.lock().unwrap_or_else(|p| p.into_inner()).bypass(a, b);
        }
        #[cfg(not(feature = "ebpf"))]
        let _ = (a, b);
    }

    /// The kernel part's counters (`None` without it); reads the kernel's maps.
    pub fn bypass_stats(&mut self) -> Option<BypassStats> {
        #[cfg(feature = "ebpf")]
        if let Some(k) = self.bypass.as_ref() {
            self.last_bypass = k.lock().unwrap_or_else(|p| p.into_inner()).stats();
            return Some(self.last_bypass);
        }
        None
    }

    /// Reads the kernel part's counters from another thread (`None` without it).
    pub fn bypass_reader(&self) -> Option<BypassReader> {
        #[cfg(feature = "ebpf")]
        if let Some(k) = self.bypass.as_ref() {
            let k = std::sync::Arc::clone(k);
            return Some(Box::new(move || {
                k.lock().unwrap_or_else(|p| p.into_inner()).stats()
            }));
        }
        None
    }

    /// `--xdp`: how the XDP program is attached ("driver" or "generic"), when it is.
    pub fn xdp_mode(&self) -> Option<&'static str> {
        #[cfg(feature = "ebpf")]
        if let Some(k) = self.bypass.as_ref() {
            return k.lock().unwrap_or_else(|p| p.into_inner()).xdp_mode();
        }
        None
    }

    /// The last kernel counters read (for use after the capture failed).
    pub fn last_bypass_stats(&self) -> BypassStats {
        self.last_bypass
    }

    /// The next packet. When none is waiting, waits up to `READ_TIMEOUT_MS` for one;
    /// `Ok(None)` means none came (the caller regains control: signals, checkpoints). The
    /// packet is borrowed from libpcap's buffer until the next call.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, LiveError> {
        if !self.ready {
            let mut pfd = libc::pollfd {
                fd: self.handle.fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, READ_TIMEOUT_MS) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    return Ok(None); // a signal: let the caller look at it
                }
                return Err(self.capture_error(err.to_string()));
            }
            if ready == 0 {
                return Ok(None);
            }
            // Readable or in error: libpcap reports an error (e.g. the interface went away)
            // on read.
            self.ready = true;
            self.got_since_poll = false;
            self.poll_error = pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
        }
        let LiveSource {
            handle,
            interface,
            linktype,
            frame,
            ready,
            got_since_poll,
            poll_error,
            snaplen,
            ..
        } = self;
        let got = match handle {
            Handle::Pcap(cap) => match cap.next_packet() {
                Ok(p) => {
                    let ts = p.header.ts;
                    // time_t and suseconds_t are 32 bits on some targets.
                    #[allow(clippy::unnecessary_cast)]
                    let (secs, usecs) = (ts.tv_sec as i64, ts.tv_usec as i64);
                    Some((
                        Timestamp::from_parts(secs, usecs * 1000),
                        p.data,
                        p.header.len,
                    ))
                }
                Err(pcap::Error::TimeoutExpired) => None,
                Err(e) => {
                    return Err(LiveError::Capture {
                        interface: interface.clone(),
                        detail: pcap_detail(&e),
                    })
                }
            },
            Handle::Ring(ring) => ring.next_packet().map(|p| {
                let cut = p.data.len().min(*snaplen);
                (
                    Timestamp::from_parts(i64::from(p.sec), i64::from(p.nsec)),
                    &p.data[..cut],
                    p.orig_len,
                )
            }),
        };
        match got {
            Some((time, data, orig_len)) => {
                *frame += 1;
                *got_since_poll = true;
                Ok(Some(Packet {
                    time,
                    frame: *frame,
                    linktype: *linktype,
                    data,
                    orig_len,
                }))
            }
            None => {
                // The buffer is drained: wait again next time.
                *ready = false;
                if *poll_error && !*got_since_poll {
                    return Err(LiveError::Capture {
                        interface: interface.clone(),
                        detail: "the capture socket reports an error".into(),
                    });
                }
                Ok(None)
            }
        }
    }

    fn capture_error(&self, detail: String) -> LiveError {
        self.capture_error_of(detail)
    }

    fn capture_error_of(&self, detail: String) -> LiveError {
        LiveError::Capture {
            interface: self.interface.clone(),
            detail,
        }
    }

    /// libpcap's counters, accumulated across its 32-bit wrap-around.
    pub fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let cap = match &mut self.handle {
            Handle::Pcap(cap) => cap,
            Handle::Ring(ring) => {
                let (received, dropped) = ring
                    .stats()
                    .map_err(|e| self.capture_error_of(e.to_string()))?;
                self.totals.received = received;
                self.totals.dropped_by_kernel = dropped;
                return Ok(self.totals);
            }
        };
        let s = match cap.stats() {
            Ok(s) => s,
            Err(e) => return Err(self.capture_error_of(pcap_detail(&e))),
        };
        let t = &mut self.totals;
        t.received += u64::from(s.received.wrapping_sub(self.last_raw.received));
        t.dropped_by_kernel += u64::from(s.dropped.wrapping_sub(self.last_raw.dropped));
        t.dropped_by_interface += u64::from(s.if_dropped.wrapping_sub(self.last_raw.if_dropped));
        self.last_raw = s;
        Ok(*t)
    }

    /// The last counters read (for use after the capture failed).
    pub fn last_stats(&self) -> LiveStats {
        self.totals
    }
}

/// Opens the capture with the kernel part: the ring of `capture::ring`, the eBPF program on
/// its socket, and the user's filter compiled for userspace.
#[cfg(feature = "ebpf")]
fn open_bypassed(o: &LiveOptions) -> Result<LiveSource, BypassOpen> {
    use super::ebpf::privilege_hint;
    let ty =
        std::fs::read_to_string(format!("/sys/class/net/{}/type", o.interface)).unwrap_or_default();
    if ty.trim() != "1" {
        return Err(BypassOpen::Kernel(format!(
            "the kernel program reads Ethernet frames, and '{}' is not an Ethernet interface \
             (ARP type {})",
            o.interface,
            ty.trim()
        )));
    }
    let linktype = super::linktype::ETHERNET;
    // Compiled before the socket opens, so the capture never runs without the user's filter.
    let prog = Capture::dead(pcap::Linktype(linktype as i32))
        .and_then(|c| c.compile(&o.filter, true))
        .map_err(|e| {
            BypassOpen::Filter(LiveError::BadFilter {
                filter: o.filter.clone(),
                detail: pcap_detail(&e),
            })
        })?;
    let ring =
        super::ring::Ring::open(&o.interface, o.buffer_bytes as usize, None).map_err(|e| {
            BypassOpen::Kernel(format!(
                "opening the capture socket: {}",
                privilege_hint(&e)
            ))
        })?;
    let in_kernel = kernel_runs_filter(&o.filter);
    let mut bypass = KernelBypass::attach(&[ring.as_raw_fd()], in_kernel)
        .map_err(|e| BypassOpen::Kernel(e.to_string()))?;
    if o.xdp {
        bypass
            .attach_xdp(&o.interface)
            .map_err(|e| BypassOpen::Kernel(e.to_string()))?;
    }
    let userspace = (!in_kernel).then_some(prog);
    let mut src = LiveSource::with(o, Handle::Ring(ring), linktype, None, userspace);
    src.bypass = Some(std::sync::Arc::new(std::sync::Mutex::new(bypass)));
    Ok(src)
}

/// Whether the kernel program applies the user's filter itself (the default `tcp`, with the
/// test libpcap compiles for it), so that userspace runs none.
pub(super) fn kernel_runs_filter(filter: &str) -> bool {
    filter.trim() == "tcp"
}

/// Why `--ebpf` cannot work in a build without the feature.
#[cfg_attr(feature = "ebpf", allow(dead_code))]
pub(super) const NO_EBPF_FEATURE: &str = "this stekwatch was built without the cargo feature \
     \"ebpf\" (build with `--features ebpf`, which needs clang and libbpf-dev)";

#[cfg(not(feature = "ebpf"))]
fn open_bypassed(_o: &LiveOptions) -> Result<LiveSource, BypassOpen> {
    Err(BypassOpen::Kernel(NO_EBPF_FEATURE.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_names_the_ones_that_exist() {
        let e = LiveSource::open(&LiveOptions {
            xdp: false,
            interface: "no-such-if0".into(),
            filter: "tcp".into(),
            snaplen: 65535,
            buffer_bytes: 1 << 20,
            immediate: false,
            ebpf: EbpfMode::Off,
        })
        .err()
        .expect("no such interface");
        let msg = e.to_string();
        assert!(msg.contains("no interface named 'no-such-if0'"), "{msg}");
        assert!(msg.contains("lo"), "{msg}");
    }
}
