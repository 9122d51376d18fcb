//! TCP: the flow table (both directions of a connection in one entry, expiry by packet time,
//! hard caps) and per-direction reassembly, handing each connection's ordered bytes to a
//! `Consumer`; `prelude` finds where TLS starts after a cleartext prelude (STARTTLS).

pub mod prelude;
pub mod reassembly;
pub mod seq;
pub mod table;

pub use table::{Consumer, FlowTable, Limits};
