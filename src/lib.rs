//! stekwatch: a passive auditor of TLS session resumption.
//!
//! The stages, one folder each, in pipeline order; a module imports only from earlier stages
//! (and from the ground modules `time`, `evidence`, `chunk`, `stats`):
//!
//! ```text
//! capture ──Packet──▶ decode ──Segment + flow hash──▶ transport::tcp (flow table, reassembly)
//!   ──Chunk per direction──▶ [pipeline::session: the TCP/TLS glue] ──▶ tls (records, handshake
//!   messages, per-connection ConnSummary) ──▶ tracker (per-service key history, in a History)
//!   ──▶ rules ──Alert──▶ report (History snapshot → human, JSON, JSONL via one Printer)
//!                                              state (save, load, merge) ◀──▶ History
//! ```
//!
//! Above the stages: `pipeline` wires them (the one place that does), `runtime` drives the
//! pipeline (`single` and `sharded` for files, `live` for an interface, cargo feature "live"),
//! pulling packets from a source; `app` has one file per command and decides exit statuses;
//! `main` only parses arguments.
//!
//! Each stage is a struct driven by `push`, testable without a capture file. Only the commands
//! read the wall clock (and the live runtime, for checkpoints); everything below takes time
//! from packets.

pub mod chunk;
pub mod evidence;
pub mod secrets;
pub mod stats;
pub mod time;

pub mod capture;
pub mod decode;
pub mod transport;

pub mod tls;

pub mod tracker;

pub mod rules;

pub mod report;

pub mod state;

pub mod pipeline;

pub mod runtime;

pub mod app;
