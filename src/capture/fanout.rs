//! The capture sockets of `live -j N` (cargo feature "live"): `N` rings of `capture::ring`
//! in one fanout group on the interface, so the kernel spreads connections over them and
//! keeps both directions of each together (IPv4 fragments are reassembled first). With the
//! kernel-side bypass (`--ebpf`), one program and one flow map serve every ring; without it,
//! the user's filter, compiled by libpcap, runs as a classic filter on each socket.
//!
//! Which ring takes a packet: with the cargo feature "ebpf" and unless `--ebpf off`, the
//! steering program (`capture::ebpf::steer`) names it by the packet's innermost connection,
//! through tunnels; otherwise (or where it cannot load) the kernel's symmetric hash of the
//! outermost headers does, and the two directions of a tunnelled connection may land in
//! different rings. Either way the runtime (`runtime::live_workers`) hands a packet that
//! reached the wrong ring on to the worker that owns its inner flow.

use std::os::unix::io::AsRawFd;
use std::sync::{Arc, Mutex};

use pcap::{BpfProgram, Capture};

use super::live::{open_error, EbpfMode, Handle, LiveError, LiveOptions, LiveSource};
use super::ring::{Fanout, Ring};

/// ARP hardware types whose frames carry an Ethernet header on AF_PACKET: Ethernet, and
/// loopback (zeroed addresses).
const ETHERNET_LIKE: [&str; 2] = ["1", "772"];

/// Opens `n` capture sockets on the interface in one fanout group. The first source carries
/// the note of `--ebpf auto` when the kernel part could not be used.
/// `vxlan_ports`: where the steering program reads VXLAN.
pub fn open_group(
    o: &LiveOptions,
    n: usize,
    vxlan_ports: &[u16],
) -> Result<Vec<LiveSource>, LiveError> {
    LiveSource::check_interface(o)?;
    let ty =
        std::fs::read_to_string(format!("/sys/class/net/{}/type", o.interface)).unwrap_or_default();
    if !ETHERNET_LIKE.contains(&ty.trim()) {
        return Err(LiveError::Open {
            interface: o.interface.clone(),
            detail: format!(
                "capture on several cores (-j) reads Ethernet frames, and this is not an \
                 Ethernet interface (ARP type {}); run with -j 1",
                ty.trim()
            ),
        });
    }
    let compile = || -> Result<BpfProgram, LiveError> {
        Capture::dead(pcap::Linktype(super::linktype::ETHERNET as i32))
            .and_then(|c| c.compile(&o.filter, true))
            .map_err(|e| LiveError::BadFilter {
                filter: o.filter.clone(),
                detail: e.to_string(),
            })
    };
    let classic = compile()?;
    // One group per process: two sensors on one interface each see every packet.
    let group = (std::process::id() & 0xffff) as u16;
    let per_ring = (o.buffer_bytes as usize / n).max(1);
    let (rings, placement) = open_rings(o, n, per_ring, group, vxlan_ports)?;
    let (bypass, note) = kernel_part(o, &rings)?;
    if bypass.is_none() {
        // SAFETY: libpcap's bpf_insn and the kernel's sock_filter are the same C layout
        // (u16 code, u8 jt, u8 jf, u32 k).
        let insns: &[libc::sock_filter] = unsafe {
            std::slice::from_raw_parts(
                classic.get_instructions().as_ptr().cast(),
                classic.get_instructions().len(),
            )
        };
        for r in &rings {
            r.attach_classic(insns)
                .map_err(|e| open_error(o, e.to_string()))?;
        }
    }
    let mut out = Vec::with_capacity(n);
    for (i, ring) in rings.into_iter().enumerate() {
        let userspace = match &bypass {
            Some(_) if !super::live::kernel_runs_filter(&o.filter) => Some(compile()?),
            _ => None,
        };
        let note = if i == 0 { note.clone() } else { None };
        let mut src = LiveSource::with(
            o,
            Handle::Ring(ring),
            super::linktype::ETHERNET,
            note,
            userspace,
        );
        src.share_bypass(bypass.clone());
        #[cfg(feature = "ebpf")]
        src.set_placement(placement.clone().ok());
        out.push(src);
    }
    #[cfg(not(feature = "ebpf"))]
    let () = placement;
    // The bypass in use but not the steering: say so (without the bypass, its note says why
    // the kernel programs could not load).
    #[cfg(feature = "ebpf")]
    if let (Err(Some(why)), Some(_)) = (&placement, &bypass) {
        if let Some(first) = out.first_mut() {
            first.set_steering_note(format!(
                "the kernel's hash places packets by their outer headers, so the halves of a \
                 tunnelled connection may reach two workers and be handed on: {why}"
            ));
        }
    }
    Ok(out)
}

/// The steering program's placement, or why there is none (`None`: not asked for).
#[cfg(feature = "ebpf")]
type Placement = Result<super::ebpf::steer::Placement, Option<String>>;
#[cfg(not(feature = "ebpf"))]
type Placement = ();

/// The `n` rings of the group: steered by the kernel program when it loads and takes the
/// group, else placed by the kernel's hash.
fn open_rings(
    o: &LiveOptions,
    n: usize,
    per_ring: usize,
    group: u16,
    vxlan_ports: &[u16],
) -> Result<(Vec<Ring>, Placement), LiveError> {
    let open = |f: Fanout| -> Result<Vec<Ring>, LiveError> {
        (0..n)
            .map(|_| {
                Ring::open(&o.interface, per_ring, Some(f))
                    .map_err(|e| open_error(o, e.to_string()))
            })
            .collect()
    };
    #[cfg(feature = "ebpf")]
    {
        if o.ebpf != EbpfMode::Off {
            // Without privilege or kernel support the bypass says why (`kernel_part`); the
            // kernel's hash places the packets then.
            let why = match super::ebpf::steer::Steering::load(vxlan_ports) {
                Ok(steering) => {
                    let rings = open(Fanout::Program(group))?;
                    match steering.attach(rings[0].as_raw_fd(), n) {
                        Ok(p) => return Ok((rings, Ok(p))),
                        // Closing the rings ends the group: it is joined again below, hashed.
                        Err(e) => e.to_string(),
                    }
                }
                Err(e) => e.to_string(),
            };
            return Ok((open(Fanout::Hash(group))?, Err(Some(why))));
        }
        Ok((open(Fanout::Hash(group))?, Err(None)))
    }
    #[cfg(not(feature = "ebpf"))]
    {
        let _ = vxlan_ports;
        Ok((open(Fanout::Hash(group))?, ()))
    }
}

#[cfg(feature = "ebpf")]
type Shared = Option<Arc<Mutex<super::ebpf::KernelBypass>>>;
#[cfg(not(feature = "ebpf"))]
type Shared = Option<Arc<Mutex<()>>>;

/// The kernel-side bypass on every ring, as `--ebpf` asks: `(None, note)` when `auto` cannot
/// use it; an error when `on` cannot.
fn kernel_part(o: &LiveOptions, rings: &[Ring]) -> Result<(Shared, Option<String>), LiveError> {
    if o.ebpf == EbpfMode::Off {
        return Ok((None, None));
    }
    let attached: Result<Shared, String> = {
        #[cfg(feature = "ebpf")]
        {
            let fds: Vec<_> = rings.iter().map(|r| r.as_raw_fd()).collect();
            super::ebpf::KernelBypass::attach(&fds, super::live::kernel_runs_filter(&o.filter))
                .and_then(|mut b| {
                    if o.xdp {
                        b.attach_xdp(&o.interface)?;
                    }
                    Ok(b)
                })
                .map(|b| Some(Arc::new(Mutex::new(b))))
                .map_err(|e| e.to_string())
        }
        #[cfg(not(feature = "ebpf"))]
        {
            let _ = rings.iter().map(|r| r.as_raw_fd());
            Err(super::live::NO_EBPF_FEATURE.to_string())
        }
    };
    match attached {
        Ok(b) => Ok((b, None)),
        Err(detail) if o.ebpf == EbpfMode::On => Err(super::live::kernel_error(o, detail)),
        Err(detail) => Ok((None, Some(detail))),
    }
}
