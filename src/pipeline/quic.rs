//! The glue between a QUIC connection's CRYPTO streams and its TLS state, as `session.rs` is
//! for TCP: the QUIC table drives a `QuicSession` through `transport::quic::Consumer`, and the
//! same `TlsConn` reads the handshake messages (without the record layer), so QUIC services
//! get the same summaries, history and rules as TCP ones.

use std::net::SocketAddr;

use crate::chunk::Transport;
use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::secrets::DecryptCounts;
use crate::secrets::QuicSecrets;
use crate::stats::Stats;
use crate::tls::conn::{ConnSummary, TlsConn};
use crate::transport::quic::Consumer;

/// A QUIC connection read as TLS.
pub struct QuicSession(TlsConn);

impl Consumer for QuicSession {
    type Summary = ConnSummary;

    fn open(client: SocketAddr, server: SocketAddr, tunnel: Option<Tunnel>) -> Self {
        QuicSession(
            TlsConn::new(client, server)
                .in_tunnel(tunnel)
                .over(Transport::Quic),
        )
    }

    fn push(&mut self, dir: usize, bytes: &[u8], at: Evidence) {
        self.0.push_messages(dir, bytes, at);
    }

    fn zero_rtt(&mut self, at: Evidence) {
        self.0.saw_zero_rtt(at);
    }

    fn done(&self) -> bool {
        self.0.is_done()
    }

    fn held(&self) -> usize {
        self.0.buffered()
    }

    fn finish(self, stats: &mut Stats) -> Option<ConnSummary> {
        let summary = self.0.finish()?;
        stats.tls_connections += 1;
        stats.handshake_messages += u64::from(summary.handshake_messages);
        stats.parse_failures += u64::from(summary.parse_errors);
        stats.handshake_messages_cap += u64::from(summary.message_cap_hit());
        stats.count_decryption(&summary.decrypted, summary.secrets_found);
        Some(summary)
    }

    fn secrets(&mut self) -> Option<QuicSecrets> {
        self.0.quic_secrets()
    }

    fn push_protected(&mut self, bytes: &[u8], at: Evidence) {
        self.0.push_quic_protected(bytes, at);
    }

    fn end_protected(&mut self, counts: DecryptCounts) {
        self.0.end_quic_decryption(counts);
    }
}
