//! The glue between a TCP connection's two byte streams and its TLS state: the one place that
//! knows both. The flow table drives a `TlsSession` through `transport::tcp::Consumer`; the TLS
//! stage never hears of TCP, and the flow table never of TLS.

use std::net::SocketAddr;

use crate::chunk::Chunk;
use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::stats::Stats;
use crate::tls::conn::{ConnSummary, TlsConn};
use crate::transport::tcp::Consumer;

/// A TCP connection read as TLS.
pub struct TlsSession(TlsConn);

impl Consumer for TlsSession {
    type Summary = ConnSummary;

    fn open(first: SocketAddr, other: SocketAddr, tunnel: Option<Tunnel>) -> Self {
        TlsSession(TlsConn::new(first, other).in_tunnel(tunnel))
    }

    fn push(&mut self, dir: usize, chunk: Chunk<'_>, at: Evidence) {
        self.0.push(dir, chunk, at);
    }

    fn held(&self) -> usize {
        self.0.buffered()
    }

    fn abandon(&mut self) {
        self.0.abandon();
    }

    fn wants(&self, dir: usize) -> bool {
        self.0.wants(dir)
    }

    fn progressed(&self) -> bool {
        self.0.progressed()
    }

    fn finish(self, stats: &mut Stats) -> Option<ConnSummary> {
        stats.resyncs += self.0.resyncs();
        if self.0.is_not_tls() {
            stats.not_tls_connections += 1;
        }
        let summary = self.0.finish()?;
        stats.tls_connections += 1;
        stats.handshake_messages += u64::from(summary.handshake_messages);
        stats.parse_failures += u64::from(summary.parse_errors);
        stats.handshake_messages_cap += u64::from(summary.message_cap_hit());
        stats.count_decryption(&summary);
        Some(summary)
    }
}
