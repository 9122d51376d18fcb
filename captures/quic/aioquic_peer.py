#!/usr/bin/env python3
"""A QUIC server or client from aioquic (PyPI), for stekwatch's QUIC fixtures.

  aioquic_peer.py server --port P --cert C --key K --key-name NAME [--retry]
  aioquic_peer.py client --port P --sni HOST --tickets FILE --keylog FILE [--version 1|2]
                         [--connections N] [--early-data]

The server answers every stream with a short message and issues TLS 1.3 session tickets.
aioquic keeps its tickets in a server-side store (the ticket is a random handle), so its
tickets carry no key name; here the server's handle starts with the 16 bytes NAME, as the
tickets of a STEK-encrypting server (OpenSSL, nginx, rustls) start with their key's name. One
NAME per server run is one STEK that never rotates. The client keeps the newest ticket in
FILE (pickled) and resumes with it; its TLS secrets go to the NSS key log FILE.
"""

import argparse
import asyncio
import os
import pickle
import ssl
import sys

from aioquic import tls
from aioquic.asyncio import connect, serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived
from aioquic.quic.packet import QuicProtocolVersion

ALPN = ["hq-interop"]


class Echo(QuicConnectionProtocol):
    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived) and event.end_stream:
            self._quic.send_stream_data(event.stream_id, b"hello from aioquic\n", end_stream=True)
            self.transmit()


def named_tickets(name: bytes):
    """Makes the server's 64-byte ticket handles start with `name` (see the module doc)."""
    real = os.urandom

    class NamedOs:
        def __getattr__(self, attr):
            return getattr(os, attr)

        @staticmethod
        def urandom(n):
            if n == 64:
                return name + real(48)
            return real(n)

    tls.os = NamedOs()


async def run_server(a):
    name = a.key_name.encode()
    assert len(name) == 16, "the key name must be 16 bytes"
    named_tickets(name)
    config = QuicConfiguration(is_client=False, alpn_protocols=ALPN, max_datagram_frame_size=None)
    config.load_cert_chain(a.cert, a.key)
    store = {}
    await serve(
        a.host,
        a.port,
        configuration=config,
        create_protocol=Echo,
        session_ticket_fetcher=store.pop,
        session_ticket_handler=lambda t: store.__setitem__(t.ticket, t),
        retry=a.retry,
    )
    print("listening", flush=True)
    await asyncio.Future()


async def one_client(a, ticket):
    config = QuicConfiguration(is_client=True, alpn_protocols=ALPN, server_name=a.sni)
    config.verify_mode = ssl.CERT_NONE
    config.secrets_log_file = open(a.keylog, "a")
    if a.version == 2:
        config.supported_versions = [QuicProtocolVersion.VERSION_2]
    config.session_ticket = ticket
    got = []
    async with connect(
        a.host,
        a.port,
        configuration=config,
        session_ticket_handler=got.append,
        wait_connected=not a.early_data,
    ) as client:
        reader, writer = await client.create_stream()
        writer.write(b"GET /\r\n")
        writer.write_eof()
        await asyncio.wait_for(reader.read(), 5)
        # Give the server's NewSessionTicket a moment to arrive.
        await asyncio.sleep(0.2)
    config.secrets_log_file.close()
    return got[-1] if got else ticket


async def run_client(a):
    ticket = None
    if os.path.exists(a.tickets):
        with open(a.tickets, "rb") as f:
            ticket = pickle.load(f)
    for _ in range(a.connections):
        ticket = await one_client(a, ticket)
        await asyncio.sleep(0.1)
    with open(a.tickets, "wb") as f:
        pickle.dump(ticket, f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4433)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--key-name")
    p.add_argument("--retry", action="store_true")
    p.add_argument("--sni", default="quic.stekwatch.test")
    p.add_argument("--tickets")
    p.add_argument("--keylog")
    p.add_argument("--version", type=int, default=1)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--early-data", action="store_true")
    a = p.parse_args()
    asyncio.run(run_server(a) if a.role == "server" else run_client(a))


if __name__ == "__main__":
    sys.exit(main())
