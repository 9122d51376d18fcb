// SPDX-License-Identifier: MIT OR Apache-2.0
// stekwatch's kernel-side bypass: a socket filter attached to the sensor's own AF_PACKET
// capture socket (so it changes what the sensor receives and nothing else on the host), and,
// with --xdp on a dedicated span port, the same decision as an XDP program on the interface.
//
// A packet of a TCP connection the sensor has finished auditing is dropped for this socket
// (return 0); everything else is passed whole. The sensor writes such a connection into
// `bypassed` (an LRU hash: the oldest entries go when it is full) once, under its canonical
// key (the lower endpoint first), so one lookup serves both directions. SYN, FIN and RST
// segments always pass, and remove the connection's entry, so a reused 5-tuple is audited
// again. Only plain Ethernet + IPv4/IPv6 + TCP is looked at: VLAN-tagged frames that kept
// their tag, fragments, IPv6 extension headers and tunnels (GRE, VXLAN, IP-in-IP, ...) pass
// up for userspace to decode.
//
// With the user's filter being the default `tcp`, the socket program also applies it, with
// the very test libpcap compiles for it, so userspace runs no filter at all.
//
// Built by build.rs with `clang -target bpf -O2 -g` when the cargo feature "ebpf" is on.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flow.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, __u64);
} bypassed SEC(".maps");

// Counters (per CPU): see `Counter` in src/capture/ebpf.rs.
enum {
	C_SEEN = 0,     // packets the program looked at
	C_BYPASSED = 1, // dropped because their connection is bypassed
	C_FORGOTTEN = 2, // entries removed by a SYN, FIN or RST
	C_PREFILTERED = 3, // packets refused by the filter `tcp` under CF_TCP_FILTER
	C_XDP_SEEN = 4,    // packets the XDP program looked at (--xdp)
	C_XDP_DROPPED = 5, // ... and dropped there as bypassed
	C_COUNT = 6,
};

// Settings written by the sensor (slot 0): a bit set of CF_*.
// CF_TCP_FILTER: the user's filter is the default `tcp`; the socket program applies it.
#define CF_TCP_FILTER 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);
	if (c)
		*c += 1;
}

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define PROTO_TCP 6
#define IPV6_FRAGMENT 44
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

// What becomes of a packet.
enum verdict {
	V_PASS,
	V_BYPASSED, // its connection is in `bypassed`
};

// libpcap's `tcp` on Ethernet, test for test (`tcpdump -d tcp`): IPv4 whose protocol byte is
// TCP, or IPv6 whose next header is TCP directly or after a fragment header. A packet too
// short for a load is refused, as a classic filter refuses it.
static __always_inline int tcp_filter(struct __sk_buff *skb)
{
	__u16 proto;
	__u8 b;
	if (bpf_skb_load_bytes(skb, 12, &proto, 2) < 0)
		return 0;
	proto = bpf_ntohs(proto);
	if (proto == ETH_P_IP)
		return bpf_skb_load_bytes(skb, 23, &b, 1) == 0 && b == PROTO_TCP;
	if (proto != ETH_P_IPV6 || bpf_skb_load_bytes(skb, 20, &b, 1) < 0)
		return 0;
	if (b == PROTO_TCP)
		return 1;
	return b == IPV6_FRAGMENT && bpf_skb_load_bytes(skb, 54, &b, 1) == 0 && b == PROTO_TCP;
}

// The decision, the same for both attachments; LOAD(off, dst, len) reads packet bytes
// (bpf_skb_load_bytes or bpf_xdp_load_bytes).
#define DEFINE_DECIDE(name, ctx_t, LOAD)                                                   \
	static __always_inline enum verdict name(ctx_t *ctx)                               \
	{                                                                                  \
		struct flow_key k = {};                                                    \
		__u16 proto;                                                               \
		__u32 l4;                                                                  \
		__u8 b;                                                                    \
		if (LOAD(ctx, 12, &proto, 2) < 0)                                          \
			return V_PASS;                                                     \
		proto = bpf_ntohs(proto);                                                  \
		if (proto == ETH_P_IP) {                                                   \
			__u8 ip[20];                                                       \
			if (LOAD(ctx, ETH_HLEN, ip, 20) < 0)                               \
				return V_PASS;                                             \
			if ((ip[0] >> 4) != 4 || ip[9] != PROTO_TCP)                       \
				return V_PASS;                                             \
			/* A fragment (more fragments, or an offset) passes up. */         \
			if ((ip[6] & 0x3f) || ip[7])                                       \
				return V_PASS;                                             \
			l4 = ETH_HLEN + (__u32)(ip[0] & 0x0f) * 4;                         \
			__builtin_memcpy(k.lo, ip + 12, 4);                                \
			__builtin_memcpy(k.hi, ip + 16, 4);                                \
			k.family = 4;                                                      \
		} else if (proto == ETH_P_IPV6) {                                          \
			if (LOAD(ctx, ETH_HLEN + 6, &b, 1) < 0 || b != PROTO_TCP)          \
				return V_PASS;                                             \
			if (LOAD(ctx, ETH_HLEN + 8, k.lo, 16) < 0 ||                       \
			    LOAD(ctx, ETH_HLEN + 24, k.hi, 16) < 0)                        \
				return V_PASS;                                             \
			l4 = ETH_HLEN + 40;                                                \
			k.family = 6;                                                      \
		} else {                                                                   \
			return V_PASS;                                                     \
		}                                                                          \
		if (LOAD(ctx, l4, &k.lo_port, 2) < 0 || LOAD(ctx, l4 + 2, &k.hi_port, 2) < 0 || \
		    LOAD(ctx, l4 + 13, &b, 1) < 0)                                         \
			return V_PASS;                                                     \
		canonical(&k);                                                             \
		if (b & (TCP_SYN | TCP_FIN | TCP_RST)) {                                   \
			/* The connection starts or ends: forget it, pass. */              \
			if (bpf_map_delete_elem(&bypassed, &k) == 0)                       \
				count(C_FORGOTTEN);                                        \
			return V_PASS;                                                     \
		}                                                                          \
		__u64 *hits = bpf_map_lookup_elem(&bypassed, &k);                          \
		if (hits) {                                                                \
			__sync_fetch_and_add(hits, 1);                                     \
			return V_BYPASSED;                                                 \
		}                                                                          \
		return V_PASS;                                                             \
	}

DEFINE_DECIDE(decide_skb, struct __sk_buff, bpf_skb_load_bytes)
DEFINE_DECIDE(decide_xdp, struct xdp_md, bpf_xdp_load_bytes)

SEC("socket")
int stekwatch_bypass(struct __sk_buff *skb)
{
	count(C_SEEN);
	__u32 zero = 0;
	__u32 *cf = bpf_map_lookup_elem(&config, &zero);
	if (cf && (*cf & CF_TCP_FILTER) && !tcp_filter(skb)) {
		count(C_PREFILTERED);
		return 0;
	}
	if (decide_skb(skb) == V_BYPASSED) {
		count(C_BYPASSED);
		return 0;
	}
	return skb->len;
}

// `--xdp`, on a dedicated span port: the same bypass before the kernel allocates the packet.
// A drop here is a drop for every consumer of the interface, not only for the sensor, so the
// filter is never applied here.
SEC("xdp")
int stekwatch_xdp(struct xdp_md *ctx)
{
	count(C_XDP_SEEN);
	if (decide_xdp(ctx) == V_BYPASSED) {
		count(C_XDP_DROPPED);
		return XDP_DROP;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
