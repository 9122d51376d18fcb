//! The run's counters: one flat type for every stage (decode, defragmentation, TCP, TLS,
//! tracker caps, capture files), with its merge generated once. A new counter is one line here
//! plus the line that counts it; the JSON report's `statistics` is this type as it is, in this
//! order, and state files store it whole.
//!
//! Counters saturate instead of wrapping, so merging many states never turns a large count
//! into a small one.

use serde::{Deserialize, Serialize};

/// The most a counter read from a state file may hold (see `Stats::clamp_loaded`).
pub const LOADED_MAX: u64 = 1 << 62;

/// Declares the counter struct and its field-by-field merge from one list of fields.
macro_rules! counters {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name { $($(#[$fmeta])* pub $field: u64,)* }

        impl $name {
            /// Adds another run's (or worker's) counters to these.
            pub fn merge(&mut self, o: &$name) {
                $(self.$field = self.$field.saturating_add(o.$field);)*
            }

            /// Holds every counter read from a file at most `LOADED_MAX`, so that counting
            /// on from it (a sensor resuming a saved history counts each packet with `+= 1`)
            /// can never overflow: no capture comes near 2^62 of anything.
            pub fn clamp_loaded(&mut self) {
                $(self.$field = self.$field.min(LOADED_MAX);)*
            }

            /// What was counted since `earlier` (a copy of these counters taken before).
            pub fn since(&self, earlier: &$name) -> $name {
                $name { $($field: self.$field.saturating_sub(earlier.$field),)* }
            }
        }
    };
}

counters! {
    /// Serialized with `#[serde(default)]`: a counter added later reads as 0 from older files.
    pub struct Stats {
        packets,
        bytes,
        tcp_segments,
        /// Not IP, or IP but not TCP.
        skipped_not_tcp,
        /// IPv4 and IPv6 fragments seen; `ip_datagrams_reassembled` of them became whole
        /// datagrams.
        skipped_ip_fragments,
        ip_datagrams_reassembled,
        /// Fragments thrown away: caps, timeouts, inconsistent lengths.
        ip_fragments_dropped,
        skipped_malformed,
        skipped_unsupported_link_type,
        /// Packets the capture cut short (snaplen).
        truncated_packets,
        /// TCP connections tracked.
        connections,
        tls_connections,
        not_tls_connections,
        handshake_messages,
        parse_failures,
        gaps,
        resyncs,
        retransmitted_bytes,
        /// Connections that sent again after being idle past the timeout (counted as new).
        expired_flows,
        dropped_flows_cap,
        /// Connections without handshake progress ended to make room (table, its active
        /// share or the buffer budget full): the auditor was under pressure.
        evicted_flows,
        /// Packets whose time lies more than the idle timeout before the previous packet's of
        /// the same input (a clock jump): expiry goes on from the new time.
        clock_jumps,
        discarded_bytes_cap,
        /// Connections whose handshake parsing was abandoned because the shared buffer budget
        /// could not hold their partial records (their buffered bytes are in
        /// `discarded_bytes_cap`).
        abandoned_handshakes_cap,
        /// Connections whose parsing stopped at the handshake-message cap.
        handshake_messages_cap,
        /// The tracker's: entries refused by per-service caps (filled in by
        /// `History::statistics`, not counted here).
        dropped_by_service_caps,
        /// The tracker's: services refused by its memory cap (as above).
        dropped_services_cap,
        /// pcapng blocks skipped (unknown types, undeclared interfaces, bad resolution).
        skipped_capture_blocks,
        // Tunnel counters are left out of reports while 0, so reports of plain traffic stay
        // as they were.
        /// Packets that came through at least one tunnel header (VXLAN, GRE, IP-in-IP, ...).
        #[serde(skip_serializing_if = "is_zero")]
        tunnelled_packets,
        /// Tunnel headers (or headers inside a tunnel) cut or inconsistent.
        #[serde(skip_serializing_if = "is_zero")]
        skipped_tunnel_malformed,
        /// Packets nested in more than `decode::MAX_ENCAPSULATIONS` tunnel headers.
        #[serde(skip_serializing_if = "is_zero")]
        skipped_tunnel_depth,
        /// `report --from-log`: lines that were not readable records (left out while 0).
        #[serde(skip_serializing_if = "is_zero")]
        skipped_log_lines,
        // QUIC counters, left out of reports while 0 like the tunnel ones.
        /// UDP datagrams that started with a QUIC long header.
        #[serde(skip_serializing_if = "is_zero")]
        quic_datagrams,
        /// Long-header packets of a known version in them (coalesced packets counted apart).
        #[serde(skip_serializing_if = "is_zero")]
        quic_packets,
        /// QUIC connections tracked (a client Initial opened under its own DCID's keys).
        #[serde(skip_serializing_if = "is_zero")]
        quic_connections,
        #[serde(skip_serializing_if = "is_zero")]
        quic_initials_decrypted,
        /// Initials that did not open: a server's whose client Initial was not seen, wrong
        /// keys, corrupt or cut packets, or UDP that only looked like QUIC.
        #[serde(skip_serializing_if = "is_zero")]
        quic_undecryptable,
        /// Long headers cut or inconsistent (lengths past the datagram, bad connection IDs).
        #[serde(skip_serializing_if = "is_zero")]
        quic_malformed,
        /// Decrypted Initials whose frames broke the format or are not allowed there.
        #[serde(skip_serializing_if = "is_zero")]
        quic_malformed_frames,
        /// Long headers of versions whose Initials this build cannot read.
        #[serde(skip_serializing_if = "is_zero")]
        quic_unknown_version,
        #[serde(skip_serializing_if = "is_zero")]
        quic_version_negotiation,
        #[serde(skip_serializing_if = "is_zero")]
        quic_retry,
        /// 0-RTT packets: clients sending early data.
        #[serde(skip_serializing_if = "is_zero")]
        quic_zero_rtt_packets,
        /// CRYPTO frames seen before (retransmissions, duplicated or reordered pieces).
        #[serde(skip_serializing_if = "is_zero")]
        quic_crypto_duplicates,
        /// CRYPTO frames refused: past the per-connection offset cap, or the shared budget
        /// for out-of-order data was full.
        #[serde(skip_serializing_if = "is_zero")]
        quic_crypto_refused,
        /// New QUIC connections refused: the table was full of live ones.
        #[serde(skip_serializing_if = "is_zero")]
        quic_dropped_flows_cap,
        // What the user's secrets (`--keylog`, pcapng Decryption Secrets Blocks) opened, left
        // out of reports while 0: a run without secrets reports as before.
        /// TLS connections (TCP or QUIC) whose ClientHello random the secrets cover.
        #[serde(skip_serializing_if = "is_zero")]
        secrets_connections,
        /// TLS 1.3 server records (TCP) and QUIC Handshake/1-RTT packets opened with them.
        #[serde(skip_serializing_if = "is_zero")]
        secrets_opened,
        /// Records and packets that did not open under them (wrong or partial secrets, a
        /// gap, a QUIC key update).
        #[serde(skip_serializing_if = "is_zero")]
        secrets_failures,
        /// QUIC packets past the per-connection caps (and 1-RTT CRYPTO frames refused), not
        /// tried; `secrets_cap_hit` connections reached a cap.
        #[serde(skip_serializing_if = "is_zero")]
        secrets_skipped,
        #[serde(skip_serializing_if = "is_zero")]
        secrets_cap_hit,
        /// Opened QUIC packets whose frames broke the format.
        #[serde(skip_serializing_if = "is_zero")]
        secrets_malformed,
        /// The process's secrets store (filled in by `History::statistics`, not counted here):
        /// key log lines stored, lines refused (not `LABEL <random> <secret>`), lines past the
        /// store's connection cap, and pcapng Decryption Secrets Blocks read / of other types.
        #[serde(skip_serializing_if = "is_zero")]
        keylog_lines,
        #[serde(skip_serializing_if = "is_zero")]
        keylog_bad_lines,
        #[serde(skip_serializing_if = "is_zero")]
        keylog_overflow,
        #[serde(skip_serializing_if = "is_zero")]
        secrets_blocks,
        #[serde(skip_serializing_if = "is_zero")]
        secrets_other_blocks,
        // Prelude counters (TLS after STARTTLS and its kin), left out of reports while 0.
        /// Connections whose TLS started after a cleartext prelude the server accepted.
        #[serde(skip_serializing_if = "is_zero")]
        prelude_tls,
        /// Preludes whose server refused the switch to TLS (SMTP `454`, PostgreSQL `N`, ...).
        #[serde(skip_serializing_if = "is_zero")]
        prelude_refused,
        /// Preludes whose client asked for TLS (or sent a ClientHello) without the server's
        /// acceptance being seen.
        #[serde(skip_serializing_if = "is_zero")]
        prelude_unanswered,
        /// Connections of a known STARTTLS protocol that stayed in cleartext.
        #[serde(skip_serializing_if = "is_zero")]
        prelude_no_tls,
        /// Preludes longer than `transport::tcp::prelude::MAX_PRELUDE_BYTES` in a direction.
        #[serde(skip_serializing_if = "is_zero")]
        prelude_over_cap,
        /// Preludes cut by lost bytes before the switch.
        #[serde(skip_serializing_if = "is_zero")]
        prelude_gap,
    }
}

impl Stats {
    /// What decryption with the user's secrets counted for one finished connection.
    pub fn count_decryption(&mut self, d: &crate::secrets::DecryptCounts, secrets_found: bool) {
        self.secrets_connections += u64::from(secrets_found);
        self.secrets_opened += u64::from(d.records);
        self.secrets_failures += u64::from(d.failures);
        self.secrets_skipped += u64::from(d.skipped);
        self.secrets_cap_hit += u64::from(d.cap_hit);
        self.secrets_malformed += u64::from(d.malformed);
    }

    /// The secrets store's counts (`secrets::counts`), as reported.
    pub fn with_secrets_store(mut self, c: crate::secrets::Counts) -> Self {
        self.keylog_lines = c.lines;
        self.keylog_bad_lines = c.bad_lines;
        self.keylog_overflow = c.overflow;
        self.secrets_blocks = c.blocks;
        self.secrets_other_blocks = c.other_blocks;
        self
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_every_counter_and_saturates() {
        let mut a = Stats {
            packets: 3,
            gaps: u64::MAX - 1,
            ..Stats::default()
        };
        let b = Stats {
            packets: 4,
            gaps: 5,
            skipped_capture_blocks: 1,
            ..Stats::default()
        };
        a.merge(&b);
        assert_eq!(a.packets, 7);
        assert_eq!(a.gaps, u64::MAX);
        assert_eq!(a.skipped_capture_blocks, 1);
        // Loaded counters are held low enough to count on from.
        a.clamp_loaded();
        assert_eq!(a.gaps, LOADED_MAX);
        assert_eq!(a.packets, 7);
        a.gaps += 1;
        assert_eq!(a.gaps, LOADED_MAX + 1);
    }
}
