// The connection key shared by the kernel programs (bypass.bpf.c, steer.bpf.c).

#ifndef STEKWATCH_FLOW_H
#define STEKWATCH_FLOW_H

// A connection, both directions in one key: its two endpoints, the lower first (addresses
// compared as four 32-bit words as loaded from the wire, then the port), addresses as on the
// wire (IPv4 in the first word, the rest zero), ports in network order. Must match `FlowKey`
// in src/capture/ebpf.rs.
struct flow_key {
	__u32 lo[4];
	__u32 hi[4];
	__u16 lo_port;
	__u16 hi_port;
	__u8 family; // 4 or 6
	__u8 pad[3];
};

// Whether endpoint (a, ap) sorts after (b, bp): the key's lower endpoint comes first.
static __always_inline int endpoint_after(const __u32 *a, __u16 ap, const __u32 *b, __u16 bp)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (a[i] != b[i])
			return a[i] > b[i];
	}
	return ap > bp;
}

// Puts the lower endpoint of `k` first.
static __always_inline void canonical(struct flow_key *k)
{
	if (!endpoint_after(k->lo, k->lo_port, k->hi, k->hi_port))
		return;
	__u32 t[4];
	__builtin_memcpy(t, k->lo, 16);
	__builtin_memcpy(k->lo, k->hi, 16);
	__builtin_memcpy(k->hi, t, 16);
	__u16 p = k->lo_port;
	k->lo_port = k->hi_port;
	k->hi_port = p;
}

#endif
