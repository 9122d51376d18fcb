//! stekwatch: a passive auditor of TLS session resumption.
//!
//! ```text
//! capture ──packets──▶ decode ──segments──▶ flow (table + TCP reassembly) ──bytes per direction──▶
//! tls (records → handshake messages → per-connection summary) ──ConnSummary──▶ tracker
//! (per-service key history) ──▶ rules ──Alert──▶ report (human, JSON, JSONL)
//!                                 state (save, load, merge) ◀──▶ tracker
//! ```
//!
//! `capture` reads files or (cargo feature "live") an interface; both feed
//! `Pipeline::push_packet`. `live` re-evaluates the rules as history grows and streams new
//! alerts; `state` makes history last across runs and merges sensors.
//!
//! Each stage is a struct driven by `push`, testable without a capture file. Only the CLI reads
//! the wall clock; everything below takes time from packets.

pub mod capture;
pub mod cli;
pub mod decode;
pub mod evidence;
pub mod flow;
#[cfg(feature = "live")]
pub mod live;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod run;
pub mod shard;
pub mod state;
pub mod time;
pub mod tls;
pub mod tracker;
