//! Transports: what turns decoded packets into the byte streams of connections. `tcp` is the
//! flow table and reassembly; each connection's bytes go to a `tcp::Consumer` that the
//! pipeline supplies (the TLS glue), so nothing here knows what the bytes mean.

pub mod quic;
pub mod tcp;
