//! QUIC (RFC 9000, 9001; v2 in RFC 9369): UDP datagrams → long-header packets → Initial
//! packets opened with the keys anyone can derive from the client's first Destination
//! Connection ID → CRYPTO frames reassembled by offset → each direction's handshake-message
//! bytes, handed to a `Consumer` the pipeline supplies (the TLS stage), which never hears of
//! QUIC. Handshake and 1-RTT packets stay encrypted (only the hellos are visible) unless the
//! user gave the connection's secrets: then `protected` opens the server's, far enough to
//! read its NewSessionTickets.
//!
//! `keys` derives Initial keys and opens packets, `packet` splits coalesced packets and reads
//! long headers, `frames` walks a payload's frames, `crypto` reassembles one CRYPTO stream,
//! `table` holds the connections (capped, expired by packet time) and counts every refusal.

pub mod crypto;
pub mod frames;
pub mod keys;
pub mod packet;
pub mod protected;
pub mod table;
#[cfg(test)]
mod tests;

pub use table::{Consumer, Limits, QuicTable};
