//! The fanout program of `live -j N` (steer.bpf.c): it places every packet in the ring of its
//! innermost connection, so both directions of a tunnelled connection reach one worker in
//! the order the interface saw them. Its hash is mirrored here (`Placement`), so a worker can
//! tell the packets the program could not follow (and hand them on) from its own.
//!
//! Once attached, the program belongs to the fanout group (the kernel holds it until the last
//! ring closes); nothing here needs to outlive the attachment.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use aya::maps::Array;
use aya::programs::SocketFilter;
use aya::Ebpf;

use super::{privilege_hint, BypassError, FlowKey};

static PROGRAM: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/steer.bpf.o"));

/// The VXLAN ports the program follows; must match VXLAN_PORTS in steer.bpf.c.
const VXLAN_PORTS: usize = 8;

/// The program's settings (`struct settings` in steer.bpf.c).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Settings {
    seed: u32,
    vxlan: [u16; VXLAN_PORTS],
}

// SAFETY: plain data without padding (4 + 16 bytes), every bit pattern valid.
unsafe impl aya::Pod for Settings {}

/// Which ring of a group of `rings` the program gives a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    seed: u32,
    rings: u32,
}

impl Placement {
    /// The ring of the connection between `a` and `b` (either order); `None` when their
    /// families differ.
    pub fn ring(&self, a: SocketAddr, b: SocketAddr) -> Option<usize> {
        FlowKey::new(a, b).map(|k| (steer_hash(&k, self.seed) % self.rings.max(1)) as usize)
    }
}

fn mix(h: u32, w: u32) -> u32 {
    let h = (h ^ w).wrapping_mul(0x0100_0193);
    h ^ (h >> 15)
}

/// `steer_hash` of steer.bpf.c, operation for operation.
fn steer_hash(k: &FlowKey, seed: u32) -> u32 {
    let mut h = seed;
    for &w in k.lo.iter().chain(&k.hi) {
        h = mix(h, w);
    }
    h = mix(h, u32::from(k.lo_port) | (u32::from(k.hi_port) << 16));
    h = mix(h, u32::from(k.family));
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The loaded program, before it is given to a group.
pub struct Steering {
    ebpf: Ebpf,
    seed: u32,
}

impl Steering {
    /// Loads the program with a fresh seed and the ports VXLAN is read on.
    pub fn load(vxlan_ports: &[u16]) -> Result<Self, BypassError> {
        let err = |what: &str, e: &dyn std::error::Error| {
            BypassError(format!("{what}: {}", privilege_hint(e)))
        };
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u32) as u32;
        let mut vxlan = [0u16; VXLAN_PORTS];
        for (slot, &p) in vxlan.iter_mut().zip(vxlan_ports) {
            *slot = p;
        }
        let mut ebpf = Ebpf::load(PROGRAM).map_err(|e| err("loading the steering object", &e))?;
        let mut settings: Array<_, Settings> = Array::try_from(
            ebpf.map_mut("steer_settings")
                .ok_or_else(|| BypassError("the steering object lacks its settings".into()))?,
        )
        .map_err(|e| err("the steering settings", &e))?;
        settings
            .set(0, Settings { seed, vxlan }, 0)
            .map_err(|e| err("writing the steering settings", &e))?;
        let prog: &mut SocketFilter = ebpf
            .program_mut("stekwatch_steer")
            .ok_or_else(|| BypassError("the steering object lacks its program".into()))?
            .try_into()
            .map_err(|e| err("the steering program", &e))?;
        prog.load()
            .map_err(|e| err("loading the steering program", &e))?;
        Ok(Steering { ebpf, seed })
    }

    /// Gives the program to the fanout group of `ring` (joined as PACKET_FANOUT_EBPF); from
    /// then on it places the group's packets, in rings of `rings`.
    pub fn attach(self, ring: RawFd, rings: usize) -> Result<Placement, BypassError> {
        let prog: &SocketFilter = self
            .ebpf
            .program("stekwatch_steer")
            .ok_or_else(|| BypassError("the steering object lacks its program".into()))?
            .try_into()
            .map_err(|e| BypassError(format!("the steering program: {e}")))?;
        let fd = prog
            .fd()
            .map_err(|e| BypassError(format!("the steering program: {e}")))?
            .as_fd()
            .as_raw_fd();
        // SAFETY: `ring` is an open AF_PACKET socket and `fd` a loaded program; the option
        // value is one int, of the length passed.
        let r = unsafe {
            libc::setsockopt(
                ring,
                libc::SOL_PACKET,
                libc::PACKET_FANOUT_DATA,
                (&fd as *const RawFd).cast(),
                std::mem::size_of::<RawFd>() as libc::socklen_t,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            return Err(BypassError(format!(
                "giving the steering program to the fanout group: {}",
                privilege_hint(&e)
            )));
        }
        Ok(Placement {
            seed: self.seed,
            rings: u32::try_from(rings).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_get_one_ring_and_connections_spread_over_every_ring() {
        let p = Placement {
            seed: 0x1234_5678,
            rings: 4,
        };
        let server: SocketAddr = "10.0.0.2:443".parse().unwrap();
        let mut used = [0u32; 4];
        for port in 40000..40400u16 {
            let client = SocketAddr::from(([10, 0, 0, 1], port));
            let r = p.ring(client, server).unwrap();
            assert_eq!(Some(r), p.ring(server, client));
            used[r] += 1;
        }
        // 400 connections over 4 rings: each gets a fair share (binomial, p = 1/4: 100 ± 9).
        assert!(used.iter().all(|&n| (60..=140).contains(&n)), "{used:?}");
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(p.ring(v6, server), None);
    }
}
