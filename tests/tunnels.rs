//! Issue 10, item 1: TLS inside tunnels and mirror encapsulations.
//!
//! `tunnel-captures/` holds captures made by the kernel's own VXLAN devices between network
//! namespaces (captures/make-tunnel-fixtures.sh): real nginx handshakes on the underlay. The
//! encapsulations this kernel has no device for (Geneve, GRE, ERSPAN II/III, MPLS, PPPoE,
//! GTP-U, IP-in-IP, IPv6 fragments) are made here by wrapping the real inner frames of
//! `vxlan.pcap` (and `vxlan-ipv6.pcap`) in those headers, so the TLS bytes stay real.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use support::encap::*;
use support::rewrite::{Capture, Pkt};
use support::*;

fn tunnel_capture(name: &str) -> PathBuf {
    root().join("tunnel-captures").join(name)
}

/// (service, tunnel, handshakes, [(key name ascii, issued, accepted)]) of one service.
type Svc = (String, Value, [u64; 4], Vec<(String, u64, u64)>);

/// `Svc` of every service.
fn summary(r: &Value) -> Vec<Svc> {
    r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let keys = s["ticket_keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    let hex = k["key_name"].as_str().unwrap();
                    let bytes: Vec<u8> = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect();
                    (
                        String::from_utf8_lossy(&bytes).to_string(),
                        k["tickets_issued"].as_u64().unwrap(),
                        k["resumptions_accepted"].as_u64().unwrap(),
                    )
                })
                .collect();
            let service = s["service"].as_str().unwrap().to_string();
            (service, s["tunnel"].clone(), handshakes(s), keys)
        })
        .collect()
}

fn one_service(service: &str, tunnel: Value, key: &str) -> Vec<Svc> {
    vec![(
        service.into(),
        tunnel,
        [1, 1, 0, 0],
        vec![(key.into(), 1, 1)],
    )]
}

#[test]
fn kernel_vxlan_handshakes_are_one_service_in_its_vni() {
    let r = report(&[&tunnel_capture("vxlan.pcap")], &[]);
    assert_eq!(
        summary(&r),
        one_service(
            "tunnel.test vxlan 42",
            json!({"kind": "vxlan", "id": 42}),
            "vxlan-vni42-key!"
        )
    );
    assert_eq!(r["services"][0]["addresses"], json!(["10.0.0.5:443"]));
    assert_eq!(alerts(&r), set(&[]));
    assert_eq!(r["statistics"]["connections"], 2);
    assert_eq!(r["statistics"]["tunnelled_packets"], 28);
}

#[test]
fn kernel_vxlan_over_ipv6_carries_ipv6_handshakes() {
    let r = report(&[&tunnel_capture("vxlan-ipv6.pcap")], &[]);
    assert_eq!(
        summary(&r),
        one_service(
            "tunnel.test vxlan 43",
            json!({"kind": "vxlan", "id": 43}),
            "vxlan6-vni43-key"
        )
    );
    assert_eq!(r["services"][0]["addresses"], json!(["[fd10::5]:443"]));
    assert_eq!(alerts(&r), set(&[]));
}

#[test]
fn two_tenants_with_the_same_inner_addresses_are_two_services_with_their_own_keys() {
    let r = report(&[&tunnel_capture("vxlan-tenants.pcap")], &[]);
    assert_eq!(
        summary(&r),
        vec![
            (
                "tunnel.test vxlan 100".into(),
                json!({"kind": "vxlan", "id": 100}),
                [1, 1, 0, 0],
                vec![("tenant-A-key-100".into(), 1, 1)]
            ),
            (
                "tunnel.test vxlan 200".into(),
                json!({"kind": "vxlan", "id": 200}),
                [1, 1, 0, 0],
                vec![("tenant-B-key-200".into(), 1, 1)]
            ),
        ]
    );
    for s in r["services"].as_array().unwrap() {
        assert_eq!(s["addresses"], json!(["10.0.0.5:443"]));
    }
    assert_eq!(r["statistics"]["connections"], 4);
    assert_eq!(alerts(&r), set(&[]));
    // -j 2 spreads flows by the inner flow and the VNI: the same report.
    let r2 = report(&[&tunnel_capture("vxlan-tenants.pcap")], &["-j", "2"]);
    assert_eq!(r2["services"], r["services"]);
    // The human report shows the tunnel next to the addresses.
    let out = stekwatch(&[
        "read",
        tunnel_capture("vxlan-tenants.pcap").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[10.0.0.5:443 in vxlan 100]"), "{text}");
    assert!(text.contains("[10.0.0.5:443 in vxlan 200]"), "{text}");
}

#[test]
fn a_tunnelled_service_survives_a_state_round_trip() {
    let dir = std::env::temp_dir().join(format!("stekwatch-tunnel-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("s.json");
    let _ = std::fs::remove_file(&state);
    let path = tunnel_capture("vxlan-tenants.pcap");
    let first = report(&[&path], &["--state", state.to_str().unwrap()]);
    let out = stekwatch(&[
        "report",
        "--state",
        state.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary(&again), summary(&first));
}

/// What tshark decodes from a capture: (VNI, key name hex) of every NewSessionTicket.
fn tshark_vni_tickets(path: &std::path::Path) -> Vec<(String, String)> {
    let out = Command::new("tshark")
        .args([
            "-n",
            "-r",
            path.to_str().unwrap(),
            "-Y",
            "tls.handshake.type==4",
        ])
        .args([
            "-T",
            "fields",
            "-e",
            "vxlan.vni",
            "-e",
            "tls.handshake.session_ticket",
        ])
        .output()
        .expect("tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (vni, t) = l.split_once('\t').unwrap();
            (vni.to_string(), t[..32].to_string())
        })
        .collect()
}

#[test]
fn every_ticket_tshark_finds_in_the_tunnel_fixtures_is_reported_under_its_vni() {
    if !tshark_available() {
        return;
    }
    let mut n = 0;
    for name in ["vxlan.pcap", "vxlan-ipv6.pcap", "vxlan-tenants.pcap"] {
        let path = tunnel_capture(name);
        let r = report(&[&path], &[]);
        for (vni, name) in tshark_vni_tickets(&path) {
            let svc = service(&r, &format!("tunnel.test vxlan {vni}"));
            key(svc, &name);
            n += 1;
        }
    }
    assert_eq!(n, 4);
}

#[test]
fn the_public_vxlan_capture_with_an_inner_vlan_is_read_in_its_vni() {
    let Some(dir) = public_captures() else { return };
    let r = report(
        &[&dir.join("ntop_nDPI__tests__cfgs__default__pcap__vxlan.pcap")],
        &[],
    );
    let services = r["services"].as_array().unwrap();
    assert_eq!(services.len(), 2, "{services:?}");
    for s in services {
        assert_eq!(s["tunnel"]["kind"], "vxlan", "{s}");
        assert_eq!(handshakes(s)[0], 1, "{s}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rewritten captures: the real inner frames of vxlan.pcap in other encapsulations.
// ---------------------------------------------------------------------------------------------

/// The inner Ethernet frames of a kernel VXLAN capture (outer Ethernet, IPv4 or IPv6, UDP,
/// VXLAN stripped), keeping the times; other packets (ARP, neighbour discovery) are dropped.
fn inner_frames(name: &str) -> Capture {
    let mut c = Capture::read(&tunnel_capture(name));
    c.packets.retain_mut(|p| {
        let outer = match u16::from_be_bytes([p.data[12], p.data[13]]) {
            0x0800 => 14 + usize::from(p.data[14] & 0x0f) * 4,
            0x86dd => 14 + 40,
            _ => return false,
        };
        let proto = if outer == 54 { p.data[20] } else { p.data[23] };
        if proto != 17 || p.data.len() < outer + 16 {
            return false;
        }
        p.data = p.data[outer + 16..].to_vec();
        // Only the inner IP packets carrying TCP.
        matches!(
            u16::from_be_bytes([p.data[12], p.data[13]]),
            0x0800 | 0x86dd
        )
    });
    c
}

/// Rewrites every inner frame of `name` with `wrap` and reports the result.
fn wrapped(name: &str, file: &str, wrap: impl Fn(&[u8], usize) -> Vec<Vec<u8>>) -> Value {
    let mut c = inner_frames(name);
    let mut packets = Vec::new();
    for (i, p) in c.packets.iter().enumerate() {
        for data in wrap(&p.data, i) {
            packets.push(Pkt { data, ..p.clone() });
        }
    }
    c.packets = packets;
    report(&[&c.write(file)], &[])
}

fn ip_of(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

/// Asserts the real handshakes (one full, one resumed under the nginx key) in one service.
fn assert_one_service(r: &Value, service: &str, tunnel: Value) {
    assert_eq!(
        summary(r),
        one_service(service, tunnel, "vxlan-vni42-key!"),
        "{}",
        r["statistics"]
    );
    assert_eq!(alerts(r), set(&[]));
    assert_eq!(r["statistics"]["skipped_tunnel_malformed"], Value::Null);
}

#[test]
fn geneve_with_options_is_one_service_in_its_vni() {
    let r = wrapped("vxlan.pcap", "geneve.pcap", |f, _| {
        vec![eth(0x0800, &ipv4(17, &udp(6081, &geneve(5000, 0x6558, f))))]
    });
    assert_one_service(
        &r,
        "tunnel.test geneve 5000",
        json!({"kind": "geneve", "id": 5000}),
    );
    // IP directly in Geneve (protocol type IPv4).
    let r = wrapped("vxlan.pcap", "geneve-ip.pcap", |f, _| {
        vec![eth(
            0x0800,
            &ipv4(17, &udp(6081, &geneve(5001, 0x0800, ip_of(f)))),
        )]
    });
    assert_one_service(
        &r,
        "tunnel.test geneve 5001",
        json!({"kind": "geneve", "id": 5001}),
    );
}

#[test]
fn vxlan_inside_geneve_takes_the_innermost_vni() {
    let r = wrapped("vxlan.pcap", "vxlan-in-geneve.pcap", |f, _| {
        let inner = eth(0x0800, &ipv4(17, &udp(4789, &vxlan(7, f))));
        vec![eth(
            0x0800,
            &ipv4(17, &udp(6081, &geneve(9, 0x6558, &inner))),
        )]
    });
    assert_one_service(&r, "tunnel.test vxlan 7", json!({"kind": "vxlan", "id": 7}));
    let inner = inner_frames("vxlan.pcap").packets.len() as u64;
    assert_eq!(r["statistics"]["tunnelled_packets"], inner);
}

#[test]
fn vxlan_on_another_port_needs_the_option() {
    let mut c = inner_frames("vxlan.pcap");
    for p in &mut c.packets {
        p.data = eth(0x0800, &ipv4(17, &udp(8472, &vxlan(42, &p.data))));
    }
    let path = c.write("vxlan-8472.pcap");
    assert_eq!(report(&[&path], &[])["services"], json!([]));
    let r = report(&[&path], &["--vxlan-port", "8472"]);
    assert_one_service(
        &r,
        "tunnel.test vxlan 42",
        json!({"kind": "vxlan", "id": 42}),
    );
}

#[test]
fn gre_with_key_sequence_and_checksum_and_bridged_ethernet_is_one_service_per_key() {
    let r = wrapped("vxlan.pcap", "gre-ip.pcap", |f, _| {
        vec![eth(
            0x0800,
            &ipv4(47, &gre(0x0800, Some(1001), true, ip_of(f))),
        )]
    });
    assert_one_service(
        &r,
        "tunnel.test gre 1001",
        json!({"kind": "gre", "id": 1001}),
    );
    let r = wrapped("vxlan.pcap", "gretap.pcap", |f, _| {
        vec![eth(0x0800, &ipv4(47, &gre(0x6558, Some(1002), false, f)))]
    });
    assert_one_service(
        &r,
        "tunnel.test gre 1002",
        json!({"kind": "gre", "id": 1002}),
    );
    // Without a key: no tunnel identity, the plain service name.
    let r = wrapped("vxlan.pcap", "gre-nokey.pcap", |f, _| {
        vec![eth(0x86dd, &ipv6(47, &gre(0x6558, None, true, f)))]
    });
    assert_one_service(&r, "tunnel.test", Value::Null);
}

#[test]
fn erspan_two_and_three_are_one_service_per_session() {
    let r = wrapped("vxlan.pcap", "erspan2.pcap", |f, _| {
        vec![eth(0x0800, &ipv4(47, &erspan2(12, f)))]
    });
    assert_one_service(
        &r,
        "tunnel.test erspan 12",
        json!({"kind": "erspan", "id": 12}),
    );
    let r = wrapped("vxlan.pcap", "erspan3.pcap", |f, _| {
        vec![eth(0x0800, &ipv4(47, &erspan3(13, f)))]
    });
    assert_one_service(
        &r,
        "tunnel.test erspan 13",
        json!({"kind": "erspan", "id": 13}),
    );
}

#[test]
fn mpls_label_stacks_pppoe_and_gtpu_carry_no_identity() {
    let r = wrapped("vxlan.pcap", "mpls.pcap", |f, i| {
        // Labels differ per direction and packet: they are not part of the identity.
        vec![eth(0x8847, &mpls(&[100 + i as u32, 16], ip_of(f)))]
    });
    assert_one_service(&r, "tunnel.test", Value::Null);
    let r = wrapped("vxlan.pcap", "mpls-pw.pcap", |f, _| {
        let mut pw = vec![0, 0, 0, 0];
        pw.extend(f);
        vec![eth(0x8847, &mpls(&[200], &pw))]
    });
    assert_one_service(&r, "tunnel.test", Value::Null);
    let r = wrapped("vxlan.pcap", "pppoe.pcap", |f, _| {
        vec![eth(0x8864, &pppoe(ip_of(f)))]
    });
    assert_one_service(&r, "tunnel.test", Value::Null);
    let r = wrapped("vxlan-ipv6.pcap", "pppoe6.pcap", |f, _| {
        vec![eth(0x8864, &pppoe(ip_of(f)))]
    });
    assert_eq!(summary(&r)[0].0, "tunnel.test");
    let r = wrapped("vxlan.pcap", "gtpu.pcap", |f, i| {
        // Each direction of a bearer has its own TEID.
        vec![eth(
            0x0800,
            &ipv4(17, &udp(2152, &gtpu(0x1000 + (i % 2) as u32, ip_of(f)))),
        )]
    });
    assert_one_service(&r, "tunnel.test", Value::Null);
}

#[test]
fn ip_in_ip_in_all_four_combinations() {
    let v4 = |f: &[u8], _| vec![eth(0x0800, &ipv4(4, ip_of(f)))];
    assert_one_service(
        &wrapped("vxlan.pcap", "4in4.pcap", v4),
        "tunnel.test",
        Value::Null,
    );
    let v4in6 = |f: &[u8], _| vec![eth(0x86dd, &ipv6(4, ip_of(f)))];
    assert_one_service(
        &wrapped("vxlan.pcap", "4in6.pcap", v4in6),
        "tunnel.test",
        Value::Null,
    );
    for (file, wrap) in [
        (
            "6in4.pcap",
            (|f: &[u8], _| vec![eth(0x0800, &ipv4(41, ip_of(f)))])
                as fn(&[u8], usize) -> Vec<Vec<u8>>,
        ),
        ("6in6.pcap", |f: &[u8], _| {
            vec![eth(0x86dd, &ipv6(41, ip_of(f)))]
        }),
        // Three levels: 6 in 4 in 6.
        ("6in4in6.pcap", |f: &[u8], _| {
            vec![eth(0x86dd, &ipv6(4, &ipv4(41, ip_of(f))))]
        }),
    ] {
        let r = wrapped("vxlan-ipv6.pcap", file, wrap);
        assert_eq!(
            summary(&r),
            vec![(
                "tunnel.test".into(),
                Value::Null,
                [1, 1, 0, 0],
                vec![("vxlan6-vni43-key".into(), 1, 1)]
            )],
            "{file}"
        );
    }
}

/// IPv6 fragments (fragment header, 8-byte multiples) of `payload` with next header `next`.
fn ipv6_fragments(next: u8, payload: &[u8], size: usize, id: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (n, piece) in payload.chunks(size).enumerate() {
        let offset = (n * size) as u16;
        let more = u16::from((n + 1) * size < payload.len());
        let mut fh = vec![next, 0];
        fh.extend((offset | more).to_be_bytes());
        fh.extend(id.to_be_bytes());
        fh.extend(piece);
        out.push(eth(0x86dd, &ipv6(44, &fh)));
    }
    out
}

#[test]
fn ipv6_fragments_are_reassembled_also_around_a_tunnel() {
    // 4in6 whose outer IPv6 datagrams are fragmented, last fragment first.
    let r = wrapped("vxlan.pcap", "4in6-frag.pcap", |f, i| {
        let mut frags = ipv6_fragments(4, ip_of(f), 256, i as u32);
        frags.reverse();
        frags
    });
    assert_one_service(&r, "tunnel.test", Value::Null);
    // Packets of one fragment (offset 0, no more) are atomic fragments: whole already.
    let split = inner_frames("vxlan.pcap")
        .packets
        .iter()
        .filter(|p| p.data.len() - 14 > 256)
        .count();
    assert!(split > 0);
    assert_eq!(r["statistics"]["ip_datagrams_reassembled"], split as u64);
    assert_eq!(r["statistics"]["ip_fragments_dropped"], 0);
    // VXLAN in fragmented IPv6: the reassembled datagram is decoded through the VXLAN.
    let r = wrapped("vxlan.pcap", "vxlan-in-frag6.pcap", |f, i| {
        ipv6_fragments(17, &udp(4789, &vxlan(42, f)), 512, i as u32)
    });
    assert_one_service(
        &r,
        "tunnel.test vxlan 42",
        json!({"kind": "vxlan", "id": 42}),
    );
    // A fragment that never completes is held, then counted as dropped once a later fragment
    // finds it past the timeout.
    let c = inner_frames("vxlan.pcap");
    let mut c2 = inner_frames("vxlan.pcap");
    c2.packets.clear();
    let first = &c.packets[0];
    let frag = ipv6_fragments(4, ip_of(&first.data), 16, 99).remove(0);
    c2.packets.push(Pkt {
        data: frag,
        ..first.clone()
    });
    let mut late = first.clone();
    late.ts_sec += 100;
    late.data = ipv6_fragments(4, ip_of(&first.data), 16, 100).remove(0);
    c2.packets.push(late);
    let r = report(&[&c2.write("frag6-lost.pcap")], &[]);
    assert_eq!(r["statistics"]["ip_fragments_dropped"], 1);
}

#[test]
fn cut_and_inconsistent_tunnel_headers_are_counted_skips() {
    let f = inner_frames("vxlan.pcap").packets[3].data.clone();
    let cases: Vec<Vec<u8>> = vec![
        eth(0x0800, &ipv4(17, &udp(4789, &[0x08, 0, 0]))), // VXLAN cut
        eth(0x0800, &ipv4(17, &udp(4789, &vxlan(1, &f)[1..]))), // VXLAN without I flag
        eth(0x0800, &ipv4(17, &udp(6081, &geneve(1, 0x6558, &f)[..10]))), // Geneve options cut
        eth(0x0800, &ipv4(47, &gre(0x0800, Some(1), true, &[])[..9])), // GRE key cut
        eth(0x0800, &ipv4(47, &erspan3(1, &[])[..20])),    // ERSPAN III cut
        eth(0x8847, &[0, 0, 0, 64, 0, 0]),                 // MPLS without bottom
        eth(0x8864, &[0x11, 0, 0, 1]),                     // PPPoE cut
        eth(
            0x0800,
            &ipv4(
                17,
                &udp(2152, &[0x34, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 0]),
            ),
        ),
        eth(0x0800, &ipv4(17, &udp(4789, &vxlan(1, &f[..20])))), // inner IP cut
        eth(0x0800, &ipv4(4, &f[14..30])),                       // inner IP cut (IPIP)
    ];
    let mut nested = ip_of(&f).to_vec();
    for _ in 0..5 {
        nested = ipv4(4, &nested);
    }
    let mut c = inner_frames("vxlan.pcap");
    let template = c.packets[0].clone();
    c.packets = cases
        .iter()
        .chain([&eth(0x0800, &nested)])
        .map(|d| Pkt {
            data: d.clone(),
            ..template.clone()
        })
        .collect();
    let r = report(&[&c.write("malformed-tunnels.pcap")], &[]);
    assert_eq!(
        r["statistics"]["skipped_tunnel_malformed"],
        cases.len() as u64
    );
    assert_eq!(r["statistics"]["skipped_tunnel_depth"], 1);
    assert_eq!(r["statistics"]["tcp_segments"], 0);
    let out = stekwatch(&["read", c.write("malformed-tunnels.pcap").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("10 malformed tunnel headers, 1 tunnels nested too deep"),
        "{text}"
    );
}

#[test]
fn every_prefix_of_every_tunnelled_packet_decodes_without_panic() {
    let f = inner_frames("vxlan.pcap").packets[3].data.clone();
    let packets = [
        eth(
            0x0800,
            &ipv4(
                17,
                &udp(
                    6081,
                    &geneve(
                        1,
                        0x6558,
                        &eth(0x0800, &ipv4(17, &udp(4789, &vxlan(2, &f)))),
                    ),
                ),
            ),
        ),
        eth(0x0800, &ipv4(47, &erspan3(1, &f))),
        eth(0x0800, &ipv4(47, &erspan2(1, &f))),
        eth(0x8847, &mpls(&[1, 2, 3], &eth(0x8864, &pppoe(ip_of(&f))))),
        eth(0x0800, &ipv4(17, &udp(2152, &gtpu(1, ip_of(&f))))),
    ];
    for p in &packets {
        for len in 0..=p.len() {
            let pkt = stekwatch::capture::Packet {
                time: stekwatch::time::Timestamp::from_parts(1_800_000_000, 0),
                frame: 1,
                linktype: stekwatch::capture::linktype::ETHERNET,
                data: &p[..len],
                orig_len: p.len() as u32,
            };
            let _ = stekwatch::decode::decode(&pkt);
        }
    }
}
