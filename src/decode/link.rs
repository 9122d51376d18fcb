//! Link layers: where a captured frame's payload starts, by the capture's link type. Ethernet
//! itself (and the VLAN tags above it) is walked by `walk`, since tunnels carry frames too;
//! only the link layers etherparse lacks (Linux SLL2, BSD NULL/LOOP, PPP) are stripped by hand.

use super::tunnel::{self, Next};
use super::walk::Layer;
use super::Skip;
use crate::capture::{linktype, Packet};

/// The first layer above the link header of `pkt`.
pub(super) fn link<'a>(pkt: &Packet<'a>) -> Result<Layer<'a>, Skip> {
    let data = pkt.data;
    match pkt.linktype {
        linktype::ETHERNET => Ok(Layer::Ethernet(data)),
        linktype::RAW
        | linktype::RAW_DLT_LINUX
        | linktype::RAW_DLT_OPENBSD
        | linktype::IPV4
        | linktype::IPV6 => Ok(Layer::Ip(data)),
        linktype::LINUX_SLL => {
            // 16-byte header; protocol (an EtherType) in the last two bytes.
            let proto = be16(data, 14).ok_or(Skip::Malformed)?;
            Ok(Layer::EtherType(proto, &data[16..]))
        }
        linktype::LINUX_SLL2 => {
            // 20-byte header; protocol (an EtherType) in the first two bytes.
            let proto = be16(data, 0).ok_or(Skip::Malformed)?;
            let rest = data.get(20..).ok_or(Skip::Malformed)?;
            Ok(Layer::EtherType(proto, rest))
        }
        linktype::NULL | linktype::LOOP => {
            // 4-byte address family, host byte order for NULL, network order for LOOP.
            let raw: [u8; 4] = data
                .get(..4)
                .ok_or(Skip::Malformed)?
                .try_into()
                .expect("4 bytes");
            // NULL is in the capturing host's byte order: small values tell which.
            let family = if pkt.linktype == linktype::LOOP || (raw[0] == 0 && raw[1] == 0) {
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw)
            };
            match family {
                2 | 24 | 28 | 30 => Ok(Layer::Ip(&data[4..])),
                _ => Err(Skip::NotTcp),
            }
        }
        linktype::PPP => match tunnel::ppp(data).map_err(|_| Skip::Malformed)? {
            Next::Ip(ip) => Ok(Layer::Ip(ip)),
            _ => Err(Skip::NotTcp),
        },
        _ => Err(Skip::UnsupportedLinkType),
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}
