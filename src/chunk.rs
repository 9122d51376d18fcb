//! What a reassembled byte stream hands on: bytes, or a count of bytes that are missing. The
//! one type between a transport (TCP reassembly today, QUIC CRYPTO frames next) and the TLS
//! stage, so neither names the other.

/// A piece of one direction of a connection, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes are missing before the next `Data`.
    Gap(u64),
}
