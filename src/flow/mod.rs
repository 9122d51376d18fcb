//! Connection tracking: the flow table (both directions of a TCP connection in one entry,
//! expiry by packet time, hard caps) and per-direction reassembly.

pub mod reassembly;
pub mod seq;
pub mod table;

pub use table::{FlowStats, FlowTable, Limits};
