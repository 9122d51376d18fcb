//! What each rule means, why it matters, where the limit comes from, and how to fix it:
//! the text of `stekwatch explain RULE`.

pub struct RuleDoc {
    pub id: &'static str,
    pub severity: &'static str,
    pub means: &'static str,
    pub why: &'static str,
    pub sources: &'static str,
    /// Whether the per-family fixes (`family::FAMILIES`) apply.
    pub key_fix: bool,
    /// A fix that does not depend on the server family.
    pub fix: &'static str,
}

pub const RULES: &[RuleDoc] = &[
    RuleDoc {
        id: "stek-not-rotated",
        severity: "warning past --max-key-age (24h), critical past --critical-key-age (7d)",
        means: "One ticket key (one key name) was seen in use by the server over longer than \
                the limit: issuing tickets (TLS 1.2), or accepting them when issuance is \
                encrypted (TLS 1.3).",
        why: "Every session resumed or issued a ticket under that key can be decrypted by \
              whoever obtains the key later: forward secrecy lasts only as long as the key. The \
              alert counts the recorded sessions a leak at the last sighting would expose.",
        sources: "RFC 9325 §3.4 (rotate ticket keys, e.g. weekly); Springall, Durumeric, \
                  Halderman, IMC 2016 (24h horizon); Go and Google rotate daily.",
        key_fix: true,
        fix: "Rotate the key at least daily, keep the previous key for decryption only as long \
              as the lifetime hint, and keep tickets' lifetime at most that long.",
    },
    RuleDoc {
        id: "stale-ticket-accepted",
        severity: "warning past --max-ticket-age (24h), critical past --critical-key-age (7d)",
        means: "The server resumed a session from a ticket it had issued longer ago than the \
                limit (matched by the ticket's hash to its own issuance; works without key \
                names).",
        why: "Old tickets still working means old keys are still held: a stolen key decrypts \
              sessions that far back, and a stolen ticket is usable that long.",
        sources: "RFC 8446 §4.6.1 (7-day maximum); RFC 9325 §3.4 (not past two rotation \
                  periods).",
        key_fix: true,
        fix: "Drop decrypt-only keys after the ticket lifetime; lower the session timeout.",
    },
    RuleDoc {
        id: "ticket-lifetime-too-long",
        severity: "warning over 24h, critical over 7 days",
        means: "The server's TLS 1.2 lifetime hint tells clients to keep tickets longer than \
                the limit (one alert per service and hint).",
        why: "A long lifetime makes servers keep old keys for decryption as long, and clients \
              present tickets that identify them across connections.",
        sources: "RFC 5246 (24h session lifetime); RFC 8446 §4.6.1 (7 days).",
        key_fix: true,
        fix: "Set the session timeout (nginx ssl_session_timeout, Apache \
              SSLSessionCacheTimeout, HAProxy tune.ssl.lifetime) to hours, not days.",
    },
    RuleDoc {
        id: "session-cache-too-long",
        severity: "warning",
        means: "A session-ID resumption was accepted more than 24h after the session was \
                established.",
        why: "The server-side cache keeps session secrets that long; whoever reads the cache \
              decrypts those sessions.",
        sources: "RFC 5246 §F.1.4 (24h upper limit).",
        key_fix: false,
        fix: "Lower the session-cache timeout (nginx ssl_session_timeout, Apache \
              SSLSessionCacheTimeout) below a day.",
    },
    RuleDoc {
        id: "stek-shared",
        severity: "info on one address, warning across addresses",
        means: "One key name is used by several services (server names or addresses).",
        why: "One stolen key exposes all of them, and a ticket issued by one is accepted by \
              the others (virtual-host confusion).",
        sources: "Springall et al., IMC 2016.",
        key_fix: false,
        fix: "Give each service (or each trust domain) its own ticket key, rotated on its own.",
    },
    RuleDoc {
        id: "weak-key-name",
        severity: "warning",
        means: "A key name of all zeros or one repeated byte.",
        why: "A sign of an uninitialised or default key; such keys were found in the wild \
              with all-zero key material.",
        sources: "Hebrok et al., USENIX Security 2023.",
        key_fix: true,
        fix: "Generate keys from a secure random source (`openssl rand 80`).",
    },
    RuleDoc {
        id: "weak-stek",
        severity: "critical",
        means: "A ticket verifies and decrypts under a known-weak key (all zeros), or carries \
                its session state in clear.",
        why: "Anyone can decrypt the tickets and so every session they protect.",
        sources: "Hebrok et al., USENIX Security 2023.",
        key_fix: true,
        fix: "Replace the key at once with random bytes; treat recorded traffic as exposed.",
    },
    RuleDoc {
        id: "ticket-iv-reuse",
        severity: "critical",
        means: "Two different tickets under one key share an IV or nonce.",
        why: "Keystream reuse: the tickets' contents can be recovered without the key.",
        sources: "Hebrok et al., USENIX Security 2023.",
        key_fix: true,
        fix: "Update the TLS library or the ticket-key callback so each ticket gets a fresh \
              random IV.",
    },
    RuleDoc {
        id: "ticketbleed",
        severity: "critical",
        means: "The server answered a short client session ID with a 32-byte one that begins \
                with it.",
        why: "The Ticketbleed bug leaks up to 31 bytes of server memory to any client.",
        sources: "CVE-2016-9244 (F5 BIG-IP).",
        key_fix: false,
        fix: "Update the load balancer's firmware, or disable session tickets on it.",
    },
    RuleDoc {
        id: "psk-without-fs",
        severity: "warning",
        means: "A TLS 1.3 resumption was accepted without a key share (psk_ke mode).",
        why: "The resumed session's keys derive from the ticket alone: whoever obtains the \
              ticket key decrypts it.",
        sources: "RFC 9325 §3.4; RFC 8446 §4.2.9.",
        key_fix: false,
        fix: "Allow only psk_dhe_ke on the server (most libraries' default).",
    },
    RuleDoc {
        id: "early-data-offered",
        severity: "info",
        means: "A ClientHello offered 0-RTT early data.",
        why: "Early data can be replayed by an attacker; it is safe only for idempotent \
              requests.",
        sources: "RFC 9325 §3.10; RFC 8446 §8.",
        key_fix: false,
        fix: "Disable 0-RTT on the server unless the application handles replays.",
    },
    RuleDoc {
        id: "key-not-observable",
        severity: "info",
        means: "A service's tickets share no key-name prefix, so its keys cannot be told apart \
                on the wire.",
        why: "Rotation cannot be judged; the service's verdict is not-observable. How long \
              tickets work is still measured from ticket hashes.",
        sources: "Go crypto/tls since 1.21 (tickets start with the IV).",
        key_fix: true,
        fix: "Nothing to fix by itself; check the server's rotation settings.",
    },
    RuleDoc {
        id: "ticket-rejected",
        severity: "info (availability, not secrecy)",
        means: "A host answered tickets under a key with full handshakes while the service was \
                still issuing that key.",
        why: "The key reached that host late (key distribution, clock skew): its clients lose \
              resumption and pay a full handshake.",
        sources: "Cloudflare's rotation model (keys distributed an hour ahead, decrypt-only).",
        key_fix: true,
        fix: "Install new keys on every host as decrypt-only before any host issues with them, \
              and synchronise clocks.",
    },
];

pub fn rule(id: &str) -> Option<&'static RuleDoc> {
    RULES.iter().find(|r| r.id == id)
}
