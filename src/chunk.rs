//! What a reassembled byte stream hands on: bytes, or a count of bytes that are missing, and
//! the marker of which transport carried a connection. The types between a transport (TCP
//! reassembly, QUIC CRYPTO frames) and the TLS stage, so neither names the other.

use serde::{Deserialize, Serialize};

/// The transport a TLS handshake travelled over: TCP records, or QUIC CRYPTO frames (handshake
/// messages without the record layer). Part of a service's identity: `a.example` over TCP and
/// over QUIC are two services (two stacks, often two ticket keys).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Quic,
}

impl Transport {
    pub fn is_tcp(&self) -> bool {
        *self == Transport::Tcp
    }

    pub fn label(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
        }
    }

    pub fn from_label(s: &str) -> Option<Self> {
        match s {
            "tcp" => Some(Transport::Tcp),
            "quic" => Some(Transport::Quic),
            _ => None,
        }
    }

    /// The IP protocol number (Community ID, EVE's `proto`).
    pub fn ip_proto(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Quic => 17,
        }
    }
}

/// The cleartext protocol a TLS handshake started after (STARTTLS and its kin, see
/// `transport::tcp::prelude`); a connection that began with TLS has none. Part of a service's
/// identity: `mail.example smtp 25` and `mail.example imap 143` are two services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Smtp,
    Imap,
    Pop3,
    Ftp,
    Ldap,
    Postgres,
    Xmpp,
    Nntp,
    Sieve,
    /// An HTTP `CONNECT` through a proxy, answered `2xx`.
    Http,
    /// No known protocol: a TLS handshake found after a cleartext prelude (the generic
    /// fallback).
    Prelude,
}

impl Protocol {
    pub const ALL: [Protocol; 11] = [
        Protocol::Smtp,
        Protocol::Imap,
        Protocol::Pop3,
        Protocol::Ftp,
        Protocol::Ldap,
        Protocol::Postgres,
        Protocol::Xmpp,
        Protocol::Nntp,
        Protocol::Sieve,
        Protocol::Http,
        Protocol::Prelude,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Ftp => "ftp",
            Protocol::Ldap => "ldap",
            Protocol::Postgres => "postgres",
            Protocol::Xmpp => "xmpp",
            Protocol::Nntp => "nntp",
            Protocol::Sieve => "sieve",
            Protocol::Http => "http",
            Protocol::Prelude => "prelude",
        }
    }

    pub fn from_label(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.label() == s)
    }
}

/// A piece of one direction of a connection, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes are missing before the next `Data`.
    Gap(u64),
}
