//! TLS as seen on the wire: records, handshake messages, ticket key names, and the
//! per-connection summary.

pub mod conn;
pub mod handshake;
pub mod record;
pub mod server13;
pub mod ticket;
pub mod weak;
