//! The glue between a TCP connection's two byte streams and its TLS state: the one place that
//! knows both. The flow table drives a `TlsSession` through `transport::tcp::Consumer`; the TLS
//! stage never hears of TCP, and the flow table never of TLS.
//!
//! A connection whose first bytes are a TLS record goes straight to `TlsConn`. Any other first
//! bytes go through a `transport::tcp::prelude::Prelude` first, which hands `TlsConn` the bytes
//! after the cleartext prelude (STARTTLS and its kin) through the same `push`, so one TLS path
//! reads both. A prelude that never reaches TLS is counted by its reason.

use std::net::SocketAddr;

use crate::chunk::Chunk;
use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::stats::Stats;
use crate::tls::conn::{ConnSummary, TlsConn};
use crate::transport::tcp::prelude::{Prelude, Skip};
use crate::transport::tcp::Consumer;

/// A TCP connection read as TLS, directly or after a prelude.
pub struct TlsSession {
    tls: TlsConn,
    stage: Stage,
}

enum Stage {
    /// No data yet.
    Undecided,
    /// The connection began with TLS.
    Direct,
    Prelude(Box<Prelude>),
}

/// Whether a direction's first bytes start like a TLS record (any content type, version 3.x)
/// or an SSLv2-format hello: then the connection is read as TLS from its first byte.
fn starts_like_tls(b: &[u8]) -> bool {
    match b {
        [] => false,
        [first, ..] if first & 0x80 != 0 => true,
        [20..=24] => true,
        [20..=24, 3, ..] => true,
        _ => false,
    }
}

impl TlsSession {
    fn stage_for(chunk: &Chunk<'_>) -> Option<Stage> {
        match chunk {
            Chunk::Data([]) => None,
            Chunk::Data(b) if !starts_like_tls(b) => Some(Stage::Prelude(Box::default())),
            _ => Some(Stage::Direct),
        }
    }
}

impl Consumer for TlsSession {
    type Summary = ConnSummary;

    fn open(first: SocketAddr, other: SocketAddr, tunnel: Option<Tunnel>) -> Self {
        TlsSession {
            tls: TlsConn::new(first, other).in_tunnel(tunnel),
            stage: Stage::Undecided,
        }
    }

    fn push(&mut self, dir: usize, chunk: Chunk<'_>, at: Evidence) {
        if let Stage::Undecided = self.stage {
            match Self::stage_for(&chunk) {
                Some(stage) => self.stage = stage,
                None => return,
            }
        }
        match &mut self.stage {
            Stage::Prelude(p) => {
                let tls = &mut self.tls;
                p.push(dir, chunk, at, &mut |d, c, at| tls.push(d, c, at));
            }
            _ => self.tls.push(dir, chunk, at),
        }
    }

    fn held(&self) -> usize {
        let prelude = match &self.stage {
            Stage::Prelude(p) => p.held(),
            _ => 0,
        };
        self.tls.buffered() + prelude
    }

    fn abandon(&mut self) {
        if let Stage::Prelude(p) = &mut self.stage {
            p.abandon();
        }
        self.tls.abandon();
    }

    fn wants(&self, dir: usize) -> bool {
        match &self.stage {
            Stage::Prelude(p) if p.protocol().is_none() => p.reading(),
            _ => self.tls.wants(dir),
        }
    }

    fn progressed(&self) -> bool {
        let prelude = match &self.stage {
            Stage::Prelude(p) => p.recognised(),
            _ => false,
        };
        self.tls.progressed() || prelude
    }

    fn finish(self, stats: &mut Stats) -> Option<ConnSummary> {
        stats.resyncs += self.tls.resyncs();
        let protocol = match &self.stage {
            Stage::Prelude(p) => {
                let protocol = p.protocol();
                count_prelude(p, stats);
                if protocol.is_none() {
                    // Nothing was handed to the TLS stage: the connection was not TLS.
                    stats.not_tls_connections += 1;
                    return None;
                }
                protocol
            }
            _ => None,
        };
        if self.tls.is_not_tls() {
            stats.not_tls_connections += 1;
        }
        let mut summary = self.tls.finish()?;
        summary.protocol = protocol;
        stats.tls_connections += 1;
        stats.handshake_messages += u64::from(summary.handshake_messages);
        stats.parse_failures += u64::from(summary.parse_errors);
        stats.handshake_messages_cap += u64::from(summary.message_cap_hit());
        stats.count_decryption(&summary.decrypted, summary.secrets_found);
        Some(summary)
    }
}

/// The run's counters for a connection that had a prelude.
fn count_prelude(p: &Prelude, stats: &mut Stats) {
    if p.protocol().is_some() {
        stats.prelude_tls += 1;
        return;
    }
    let counter = match p.skip() {
        None => return,
        Some(Skip::OverCap) => &mut stats.prelude_over_cap,
        Some(Skip::Refused) => &mut stats.prelude_refused,
        Some(Skip::Unanswered) => &mut stats.prelude_unanswered,
        Some(Skip::NoTls) => &mut stats.prelude_no_tls,
        Some(Skip::Gap) => &mut stats.prelude_gap,
    };
    *counter += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_and_sslv2_hellos_start_a_connection_directly() {
        assert!(starts_like_tls(&[22, 3, 1, 0, 5]));
        assert!(starts_like_tls(&[23, 3, 3]));
        assert!(starts_like_tls(&[22]));
        assert!(starts_like_tls(&[0x80, 0x2e, 1]));
        assert!(!starts_like_tls(b"220 mail.example ESMTP\r\n"));
        assert!(!starts_like_tls(&[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]));
        assert!(!starts_like_tls(&[0x30, 0x1d, 2, 1, 1]));
        assert!(!starts_like_tls(&[22, b'x']));
    }
}
