//! Rewrites real fixture captures to model network trouble while keeping the bytes real:
//! reordering, duplication, splitting segments into pieces, dropping segments, keeping one
//! direction. Handles the classic little-endian pcap files of captures/ (Ethernet, IPv4, TCP).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Pkt {
    pub ts_sec: u32,
    pub ts_frac: u32,
    pub data: Vec<u8>,
    /// Length on the wire, when the capture cut the packet (snaplen).
    pub orig_len: Option<usize>,
}

pub struct Capture {
    header: Vec<u8>,
    pub packets: Vec<Pkt>,
}

const ETH: usize = 14;

impl Capture {
    pub fn read(path: &Path) -> Capture {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            &bytes[..4],
            &[0xd4, 0xc3, 0xb2, 0xa1],
            "little-endian microsecond pcap expected"
        );
        assert_eq!(
            u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
            1,
            "Ethernet expected"
        );
        let mut packets = Vec::new();
        let mut pos = 24;
        while pos + 16 <= bytes.len() {
            let word =
                |i: usize| u32::from_le_bytes(bytes[pos + i..pos + i + 4].try_into().unwrap());
            let (ts_sec, ts_frac, caplen) = (word(0), word(4), word(8) as usize);
            packets.push(Pkt {
                ts_sec,
                ts_frac,
                data: bytes[pos + 16..pos + 16 + caplen].to_vec(),
                orig_len: None,
            });
            pos += 16 + caplen;
        }
        Capture {
            header: bytes[..24].to_vec(),
            packets,
        }
    }

    /// Writes the capture to a temp file named `name` and returns its path.
    pub fn write(&self, name: &str) -> PathBuf {
        let mut out = self.header.clone();
        for p in &self.packets {
            out.extend(p.ts_sec.to_le_bytes());
            out.extend(p.ts_frac.to_le_bytes());
            out.extend((p.data.len() as u32).to_le_bytes());
            out.extend((p.orig_len.unwrap_or(p.data.len()) as u32).to_le_bytes());
            out.extend(&p.data);
        }
        let dir = std::env::temp_dir().join(format!("stekwatch-rewrite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, out).unwrap();
        path
    }

    /// Swaps the contents of each pair of consecutive data segments of one direction of one
    /// connection (times stay in place, so the capture stays in time order).
    pub fn reorder(mut self) -> Self {
        let mut i = 0;
        while i + 1 < self.packets.len() {
            let (a, b) = (&self.packets[i], &self.packets[i + 1]);
            if payload_len(a) > 0 && payload_len(b) > 0 && ports(a) == ports(b) {
                let (left, right) = self.packets.split_at_mut(i + 1);
                std::mem::swap(&mut left[i].data, &mut right[0].data);
                i += 2;
            } else {
                i += 1;
            }
        }
        self
    }

    /// Every data segment is sent twice (a retransmission right after the original).
    pub fn duplicate(mut self) -> Self {
        self.packets = self
            .packets
            .into_iter()
            .flat_map(|p| {
                if payload_len(&p) > 0 {
                    vec![p.clone(), p]
                } else {
                    vec![p]
                }
            })
            .collect();
        self
    }

    /// Splits every data segment into pieces of at most `piece` bytes.
    pub fn split(mut self, piece: usize) -> Self {
        self.packets = self
            .packets
            .into_iter()
            .flat_map(|p| split_packet(&p, piece))
            .collect();
        self
    }

    /// Splits every IPv4 datagram with TCP data into IP fragments of at most `size` bytes of
    /// IP payload (a multiple of 8), sent in reverse order.
    pub fn ip_fragment(mut self, size: usize) -> Self {
        assert_eq!(size % 8, 0);
        self.packets = self
            .packets
            .into_iter()
            .flat_map(|p| ip_fragments(&p, size))
            .collect();
        self
    }

    /// Inserts VLAN tags after the MAC addresses: one 802.1Q tag, or QinQ (802.1ad outer tag)
    /// for two. Only for writing: the other rewrites expect untagged Ethernet.
    pub fn vlan(mut self, ids: &[u16]) -> Self {
        for p in &mut self.packets {
            let mut tags = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let tpid: u16 = if i + 1 < ids.len() { 0x88a8 } else { 0x8100 };
                tags.extend(tpid.to_be_bytes());
                tags.extend(id.to_be_bytes());
            }
            p.data.splice(12..12, tags);
        }
        self
    }

    /// Turns the capture into raw IP (LINKTYPE_RAW, 101): Ethernet headers removed.
    pub fn raw_ip(mut self) -> Self {
        self.header[20..24].copy_from_slice(&101u32.to_le_bytes());
        for p in &mut self.packets {
            p.data.drain(..ETH);
        }
        self
    }

    /// Cuts every packet to `snaplen` captured bytes, keeping its length on the wire.
    pub fn snaplen(mut self, snaplen: usize) -> Self {
        for p in &mut self.packets {
            if p.data.len() > snaplen {
                p.orig_len = Some(p.data.len());
                p.data.truncate(snaplen);
            }
        }
        self
    }

    /// Puts each connection's SYN/ACK before its SYN, as when a span port delivers the two
    /// directions through different queues.
    pub fn syn_ack_first(mut self) -> Self {
        let mut i = 0;
        while i + 1 < self.packets.len() {
            let (a, b) = (&self.packets[i], &self.packets[i + 1]);
            let (ap, bp) = (ports(a), ports(b));
            if is_syn(a) && is_syn(b) && ap == (bp.1, bp.0) {
                let (left, right) = self.packets.split_at_mut(i + 1);
                std::mem::swap(&mut left[i].data, &mut right[0].data);
                i += 2;
            } else {
                i += 1;
            }
        }
        self
    }

    /// Gives every connection from a client the same source port, so one 5-tuple carries
    /// several connections one after the other (port reuse).
    pub fn reuse_port(mut self, server_port: u16, client_port: u16) -> Self {
        for p in &mut self.packets {
            let (tcp, _, _) = offsets(p);
            let (src, dst) = ports(p);
            if dst == server_port {
                p.data[tcp..tcp + 2].copy_from_slice(&client_port.to_be_bytes());
            } else if src == server_port {
                p.data[tcp + 2..tcp + 4].copy_from_slice(&client_port.to_be_bytes());
            }
        }
        self
    }

    /// Drops the packets for which `drop` is true (given the 1-based frame number and packet).
    pub fn drop_where(mut self, drop: impl Fn(usize, &Pkt) -> bool) -> Self {
        self.packets = self
            .packets
            .into_iter()
            .enumerate()
            .filter(|(i, p)| !drop(i + 1, p))
            .map(|(_, p)| p)
            .collect();
        self
    }

    /// Keeps only what one side sent: packets *to* `server_port` (client side) or *from* it.
    pub fn one_direction(self, server_port: u16, client_side: bool) -> Self {
        self.drop_where(|_, p| {
            let (src, dst) = ports(p);
            if client_side {
                dst != server_port
            } else {
                src != server_port
            }
        })
    }
}

fn offsets(p: &Pkt) -> (usize, usize, usize) {
    let ip = ETH;
    let ihl = (p.data[ip] & 0x0f) as usize * 4;
    let tcp = ip + ihl;
    let doff = (p.data[tcp + 12] >> 4) as usize * 4;
    let total = u16::from_be_bytes([p.data[ip + 2], p.data[ip + 3]]) as usize;
    (tcp, tcp + doff, ip + total)
}

pub fn is_syn(p: &Pkt) -> bool {
    let (tcp, _, _) = offsets(p);
    p.data[tcp + 13] & 0x02 != 0
}

pub fn payload_len(p: &Pkt) -> usize {
    let (_, start, end) = offsets(p);
    end - start
}

pub fn ports(p: &Pkt) -> (u16, u16) {
    let (tcp, _, _) = offsets(p);
    (
        u16::from_be_bytes([p.data[tcp], p.data[tcp + 1]]),
        u16::from_be_bytes([p.data[tcp + 2], p.data[tcp + 3]]),
    )
}

pub fn payload(p: &Pkt) -> &[u8] {
    let (_, start, end) = offsets(p);
    &p.data[start..end]
}

fn split_packet(p: &Pkt, piece: usize) -> Vec<Pkt> {
    let (tcp, start, end) = offsets(p);
    if end - start <= piece {
        return vec![p.clone()];
    }
    let seq = u32::from_be_bytes(p.data[tcp + 4..tcp + 8].try_into().unwrap());
    let mut out = Vec::new();
    let mut off = start;
    while off < end {
        let n = piece.min(end - off);
        let mut data = p.data[..start].to_vec();
        data.extend(&p.data[off..off + n]);
        let total = (start - ETH + n) as u16;
        data[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
        data[tcp + 4..tcp + 8]
            .copy_from_slice(&seq.wrapping_add((off - start) as u32).to_be_bytes());
        out.push(Pkt {
            ts_sec: p.ts_sec,
            ts_frac: p.ts_frac,
            data,
            orig_len: None,
        });
        off += n;
    }
    out
}

fn ip_fragments(p: &Pkt, size: usize) -> Vec<Pkt> {
    if payload_len(p) == 0 {
        return vec![p.clone()];
    }
    let (tcp, _, end) = offsets(p);
    let body = &p.data[tcp..end];
    let mut out = Vec::new();
    for (i, chunk) in body.chunks(size).enumerate() {
        let mut data = p.data[..tcp].to_vec();
        data.extend(chunk);
        let total = (tcp - ETH + chunk.len()) as u16;
        data[ETH + 2..ETH + 4].copy_from_slice(&total.to_be_bytes());
        let more = (i + 1) * size < body.len();
        let field = ((i * size / 8) as u16) | if more { 0x2000 } else { 0 };
        data[ETH + 6..ETH + 8].copy_from_slice(&field.to_be_bytes());
        out.push(Pkt {
            ts_sec: p.ts_sec,
            ts_frac: p.ts_frac,
            data,
            orig_len: None,
        });
    }
    out.reverse();
    out
}
