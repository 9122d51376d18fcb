#!/usr/bin/env python3
"""Writes a QUIC-heavy capture for throughput measurements (issue 10): the real QUIC handshakes
of a fixture (default captures/quic-resumption.pcap, Ethernet/IPv4/UDP) replayed COPIES times,
each copy its own 5-tuple (client 10.x.y.z, its own port), and after each connection's
handshake BULK short-header (1-RTT) datagrams of 1350 bytes from the server, as an HTTP/3
download would send (random bytes: stekwatch, like any observer, cannot read them).

  scripts/genquic.py OUT.pcap [--copies N] [--bulk N] [--source FIXTURE]

The Initials keep their bytes (and so their DCIDs and keys); only addresses, ports, lengths and
times are rewritten, so every copy decrypts and reports the fixture's key names.
"""

import argparse
import os
import struct


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xA1B2C3D4, "little-endian microsecond pcap expected"
    linktype = struct.unpack("<I", data[20:24])[0]
    assert linktype == 1, "Ethernet expected"
    pos, out = 24, []
    while pos + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack("<IIII", data[pos : pos + 16])
        out.append((sec + usec / 1e6, data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return out


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\0" * 6 + b"\x02" + b"\0" * 5 + b"\x08\x00" + ip + udp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--copies", type=int, default=2000)
    p.add_argument("--bulk", type=int, default=0)
    p.add_argument("--source", default="captures/quic-resumption.pcap")
    a = p.parse_args()
    pkts = read_pcap(a.source)
    server_ip = b"\x7f\0\0\x01"
    server_port = 4433
    t0 = pkts[0][0]
    bulk = os.urandom(1350)
    out = []
    if True:
        t = 1793491200.0
        for k in range(a.copies):
            client_ip = bytes([10, (k >> 16) & 255, (k >> 8) & 255, k & 255])
            for ts, d in pkts:
                ihl = (d[14] & 15) * 4
                udp = d[14 + ihl :]
                sport, dport = struct.unpack("!HH", udp[:4])
                payload = udp[8:]
                # Each client connection of the source gets its own port in this copy.
                if dport == server_port:
                    fr = frame(client_ip, server_ip, 20000 + (sport % 20000), dport, payload)
                    server_to = None
                else:
                    fr = frame(server_ip, client_ip, sport, 20000 + (dport % 20000), payload)
                    server_to = 20000 + (dport % 20000)
                stamp = t + (ts - t0)
                out.append((stamp, fr))
                if server_to is not None and a.bulk and payload[0] & 0x80:
                    # A download after the server's flight: 1-RTT packets (short header).
                    for i in range(a.bulk // 4):
                        body = bytes([0x40 | (i & 0x3F)]) + bulk[1:]
                        fr = frame(server_ip, client_ip, sport, server_to, body)
                        out.append((stamp + (i + 1) * 1e-6, fr))
            # Copies 0.5 ms apart: many connections at once, all within a few seconds.
            t += 0.0005
    out.sort(key=lambda x: x[0])
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for stamp, fr in out:
            usec = int(round(stamp * 1e6))
            f.write(struct.pack("<IIII", usec // 1000000, usec % 1000000, len(fr), len(fr)))
            f.write(fr)
    print(f"genquic: wrote {a.out}: {len(out)} packets, {a.copies} copies of {a.source}")


if __name__ == "__main__":
    main()
