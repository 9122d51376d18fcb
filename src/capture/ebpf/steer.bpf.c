// SPDX-License-Identifier: MIT OR Apache-2.0
// The fanout program of `live -j N` with the cargo feature "ebpf": which ring of the
// sensor's PACKET_FANOUT_EBPF group takes a packet (the kernel takes the return value modulo
// the number of rings).
//
// The kernel's own fanout hash reads the outermost headers, and those differ per direction
// for a tunnelled connection (a VXLAN or Geneve sender picks its UDP source port per flow and
// per direction; MPLS labels differ per direction). This program hashes the innermost
// connection instead, the same for both directions, through what the decoder (src/decode)
// follows: VLAN tags, MPLS (IP or an Ethernet pseudowire), PPPoE sessions, transparent
// Ethernet bridging, IP-in-IP, GRE (with ERSPAN I, II and III), VXLAN (port 4789 and the
// sensor's --vxlan-port) and Geneve. What it cannot follow (GTP-U, IPv6 extension headers, IP
// fragments inside a tunnel, nesting deeper than MAX_STEPS headers) is hashed on what it read
// so far; the worker that receives such a packet hands it on in userspace
// (runtime::live_workers). `steer_hash` must match `steer_hash` in src/capture/ebpf/steer.rs.
//
// Built by build.rs with `clang -target bpf -O2 -g` when the cargo feature "ebpf" is on.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow.h"

#define VXLAN_PORTS 8

// Written by the sensor before the program steers anything: the hash's seed, and the ports
// VXLAN is read on (0: none). Must match `Settings` in src/capture/ebpf/steer.rs.
struct settings {
	__u32 seed;
	__u16 vxlan[VXLAN_PORTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} steer_settings SEC(".maps");

// Headers read at most per packet (each VLAN tag, MPLS stack, IP or tunnel header is one).
#define MAX_STEPS 16
#define MAX_MPLS_LABELS 16
// Offsets beyond this are not followed (and keep the verifier's ranges small).
#define MAX_OFFSET 1023

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_QINQ 0x9100
#define ETH_P_MPLS 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_PPPOE 0x8864
#define ETH_P_TEB 0x6558
#define ETH_P_ERSPAN2 0x88BE
#define ETH_P_ERSPAN3 0x22EB
#define GENEVE_PORT 6081

enum layer {
	L_ETHER,     // an Ethernet header at `off`
	L_ETHERTYPE, // a payload named by EtherType `et` at `off`
	L_IP,        // an IP header at `off`
	L_DONE,
};

static __always_inline __u32 mix(__u32 h, __u32 w)
{
	h ^= w;
	h *= 0x01000193;
	return h ^ (h >> 15);
}

// The ring index before the modulo: both directions of a connection hash alike (the key is
// canonical), and the seed keeps the placement unpredictable to senders.
static __always_inline __u32 steer_hash(const struct flow_key *k, __u32 seed)
{
	__u32 h = seed;
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = mix(h, k->lo[i]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = mix(h, k->hi[i]);
	h = mix(h, (__u32)k->lo_port | ((__u32)k->hi_port << 16));
	h = mix(h, k->family);
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

// Packet bytes from the Ethernet header on: the fanout program runs before the kernel puts
// the link header back in front of a received packet (its data starts at the IP header), and
// after it for a sent one, so offsets are taken from the MAC header, not from the data.
static __always_inline long load(struct __sk_buff *skb, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes_relative(skb, off, to, len, BPF_HDR_START_MAC);
}

static __always_inline int load16(struct __sk_buff *skb, __u32 off, __u16 *v)
{
	if (load(skb, off, v, 2) < 0)
		return -1;
	*v = bpf_ntohs(*v);
	return 0;
}

static __always_inline int is_vxlan(const struct settings *s, __u16 port)
{
#pragma unroll
	for (int i = 0; i < VXLAN_PORTS; i++) {
		if (s->vxlan[i] && s->vxlan[i] == port)
			return 1;
	}
	return 0;
}

// Where the walk through a packet's headers stands. It lives in a per-CPU map, not on the
// stack: values read back from a map are unknown to the verifier, so the states of its walk
// through MAX_STEPS headers stay few (on the stack it tracks every offset and gives up).
struct walk {
	struct flow_key k; // the innermost connection read so far
	__u32 off;         // where the next header starts
	__u16 et;          // its EtherType, for L_ETHERTYPE
	__u8 layer;        // enum layer
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} steer_walk SEC(".maps");

// The layer after EtherType `w->et` at `w->off` (VLAN tags, MPLS, PPPoE, bridging).
static __always_inline int ether_type(struct __sk_buff *skb, struct walk *w)
{
	__u8 b[4];
	__u32 off = w->off;
	__u16 et;
	switch (w->et) {
	case ETH_P_IP:
	case ETH_P_IPV6:
		return L_IP;
	case ETH_P_8021Q:
	case ETH_P_8021AD:
	case ETH_P_QINQ:
		if (load16(skb, off + 2, &et) < 0)
			return L_DONE;
		w->et = et;
		w->off = off + 4;
		return L_ETHERTYPE;
	case ETH_P_TEB:
		return L_ETHER;
	case ETH_P_MPLS:
	case ETH_P_MPLS_MC:
		for (int i = 0; i < MAX_MPLS_LABELS; i++) {
			if (load(skb, off, b, 4) < 0)
				return L_DONE;
			off += 4;
			if (b[2] & 1)
				break;
			if (i == MAX_MPLS_LABELS - 1)
				return L_DONE;
		}
		if (load(skb, off, b, 1) < 0)
			return L_DONE;
		w->off = off;
		if ((b[0] >> 4) == 4 || (b[0] >> 4) == 6)
			return L_IP;
		if ((b[0] >> 4) == 0) {
			w->off = off + 4; // the pseudowire's control word
			return L_ETHER;
		}
		return L_DONE;
	case ETH_P_PPPOE:
		if (load(skb, off, b, 4) < 0 || b[0] != 0x11 || b[1] != 0)
			return L_DONE;
		off += 6;
		if (load(skb, off, b, 2) < 0)
			return L_DONE;
		if (b[0] == 0xff && b[1] == 0x03) {
			off += 2;
			if (load(skb, off, b, 2) < 0)
				return L_DONE;
		}
		if (b[0] & 1) {
			w->off = off + 1;
			return b[0] == 0x21 || b[0] == 0x57 ? L_IP : L_DONE;
		}
		w->off = off + 2;
		return b[0] == 0 && (b[1] == 0x21 || b[1] == 0x57) ? L_IP : L_DONE;
	default:
		return L_DONE;
	}
}

// GRE at `off` (version 0, no routing): the layer after it.
static __always_inline int gre(struct __sk_buff *skb, struct walk *w, __u32 off)
{
	__u16 flags, proto;
	if (load16(skb, off, &flags) < 0 || load16(skb, off + 2, &proto) < 0)
		return L_DONE;
	if ((flags & 0x0007) || (flags & 0x4000))
		return L_DONE;
	off += 4;
	if (flags & 0x8000)
		off += 4;
	if (flags & 0x2000)
		off += 4;
	if (flags & 0x1000)
		off += 4;
	switch (proto) {
	case ETH_P_TEB:
		w->off = off;
		return L_ETHER;
	case ETH_P_ERSPAN2:
		// Type II has 8 bytes of its own; type I (no sequence number) none.
		w->off = off + ((flags & 0x1000) ? 8 : 0);
		return L_ETHER;
	case ETH_P_ERSPAN3: {
		__u16 f;
		if (load16(skb, off + 10, &f) < 0)
			return L_DONE;
		w->off = off + 12 + ((f & 1) ? 8 : 0);
		__u16 frame = (f >> 10) & 0x1f;
		return frame == 0 ? L_ETHER : frame == 2 ? L_IP : L_DONE;
	}
	default:
		w->off = off;
		w->et = proto;
		return L_ETHERTYPE;
	}
}

// An IP header at `w->off`: its addresses go into `w->k`; the layer after it (L_DONE once
// the connection's ports are in the key too, or when nothing more can be followed).
static __always_inline int ip(struct __sk_buff *skb, const struct settings *s, struct walk *w)
{
	struct flow_key *k = &w->k;
	__u32 off = w->off;
	__u8 h[20];
	__u8 proto;
	__u32 l4;
	__builtin_memset(k, 0, sizeof(*k));
	if (load(skb, off, h, 1) < 0)
		return L_DONE;
	if ((h[0] >> 4) == 4) {
		if (load(skb, off, h, 20) < 0)
			return L_DONE;
		__builtin_memcpy(k->lo, h + 12, 4);
		__builtin_memcpy(k->hi, h + 16, 4);
		k->family = 4;
		if ((h[6] & 0x3f) || h[7])
			return L_DONE; // a fragment: its addresses only
		proto = h[9];
		l4 = off + (__u32)(h[0] & 0x0f) * 4;
	} else if ((h[0] >> 4) == 6) {
		if (load(skb, off + 6, &proto, 1) < 0 ||
		    load(skb, off + 8, k->lo, 16) < 0 ||
		    load(skb, off + 24, k->hi, 16) < 0)
			return L_DONE;
		k->family = 6;
		l4 = off + 40;
	} else {
		return L_DONE;
	}
	switch (proto) {
	case 6: // TCP
		load(skb, l4, &k->lo_port, 2);
		load(skb, l4 + 2, &k->hi_port, 2);
		return L_DONE;
	case 17: { // UDP
		__u16 sport, dport;
		if (load(skb, l4, &sport, 2) < 0 ||
		    load(skb, l4 + 2, &dport, 2) < 0)
			return L_DONE;
		__u16 port = bpf_ntohs(dport);
		if (is_vxlan(s, port)) {
			w->off = l4 + 16;
			return L_ETHER;
		}
		if (port == GENEVE_PORT) {
			__u8 first;
			__u16 type;
			if (load(skb, l4 + 8, &first, 1) < 0 ||
			    load16(skb, l4 + 10, &type) < 0)
				return L_DONE;
			w->off = l4 + 16 + (__u32)(first & 0x3f) * 4;
			if (type == ETH_P_TEB)
				return L_ETHER;
			w->et = type;
			return L_ETHERTYPE;
		}
		k->lo_port = sport;
		k->hi_port = dport;
		return L_DONE;
	}
	case 4:  // IPv4 in IP
	case 41: // IPv6 in IP
		w->off = l4;
		return L_IP;
	case 47:
		return gre(skb, w, l4);
	default:
		return L_DONE;
	}
}

SEC("socket")
int stekwatch_steer(struct __sk_buff *skb)
{
	__u32 zero = 0;
	const struct settings *s = bpf_map_lookup_elem(&steer_settings, &zero);
	struct walk *w = bpf_map_lookup_elem(&steer_walk, &zero);
	if (!s || !w)
		return 0;
	__builtin_memset(w, 0, sizeof(*w));
	w->layer = L_ETHER;
#pragma clang loop unroll(disable)
	for (int step = 0; step < MAX_STEPS; step++) {
		int layer = w->layer;
		if (layer == L_DONE || w->off > MAX_OFFSET)
			break;
		if (layer == L_ETHER) {
			__u16 et;
			if (load16(skb, w->off + 12, &et) < 0)
				break;
			w->et = et;
			w->off += 14;
			w->layer = L_ETHERTYPE;
		} else if (layer == L_ETHERTYPE) {
			w->layer = ether_type(skb, w);
		} else {
			w->layer = ip(skb, s, w);
		}
	}
	canonical(&w->k);
	return steer_hash(&w->k, s->seed);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
