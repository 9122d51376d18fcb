//! Which server software a service probably runs, guessed from what its tickets look like
//! (key-name length and format), its lifetime hints and its rotation, and what to change on it.
//! The facts per family are those of design.md §8; a guess is never certain, so it comes with a
//! confidence and, when unsure, several candidates.

use super::policy::Rotation;
use crate::tracker::view::ServiceView;

/// A server family: what it does by default and how to make it rotate.
pub struct Family {
    pub id: &'static str,
    pub name: &'static str,
    /// Default ticket-key behaviour.
    pub default: &'static str,
    /// What to change so that keys rotate (and old tickets stop working).
    pub fix: &'static str,
}

pub const FAMILIES: &[Family] = &[
    Family {
        id: "nginx",
        name: "nginx",
        default: "keys from ssl_session_ticket_key files (first encrypts, the others decrypt), \
                  never rotated until new files and a reload; since 1.23.2, with a shared \
                  session cache and no key file, keys in shared memory rotate about every \
                  ssl_session_timeout",
        fix: "nginx: either remove ssl_session_ticket_key and use `ssl_session_cache \
              shared:SSL:10m` on nginx >= 1.23.2 (automatic rotation), or generate a new 80-byte \
              key file at least daily, list it first followed by the previous one, and reload \
              (`nginx -s reload`); keep ssl_session_timeout at most the rotation period",
    },
    Family {
        id: "apache",
        name: "Apache httpd",
        default: "SSLSessionTicketKeyFile (48 bytes) never rotates; without it, random keys \
                  at start, rotated only by a restart",
        fix: "Apache httpd: drop SSLSessionTicketKeyFile (keys then change on every graceful \
              restart) or write a new key file daily and `apachectl graceful`; or set \
              `SSLSessionTickets off`",
    },
    Family {
        id: "haproxy",
        name: "HAProxy",
        default: "tls-ticket-keys file with 3 keys (the penultimate encrypts), changed only \
                  through the file or `set ssl tls-key` at runtime",
        fix: "HAProxy: rotate with `echo \"set ssl tls-key <file> <base64 key>\" | socat stdio \
              <admin socket>` every 12 hours or less (the new key becomes the penultimate), \
              or rewrite the tls-ticket-keys file and reload",
    },
    Family {
        id: "openssl",
        name: "OpenSSL application",
        default: "one random key per SSL_CTX, never rotated until the process or context is \
                  recreated; applications rotate through SSL_CTX_set_tlsext_ticket_key_evp_cb",
        fix: "OpenSSL application: rotate keys through the ticket-key callback \
              (SSL_CTX_set_tlsext_ticket_key_evp_cb) at least daily, or restart the service \
              daily, or disable tickets (SSL_OP_NO_TICKET)",
    },
    Family {
        id: "boringssl",
        name: "BoringSSL / AWS-LC",
        default: "rotates automatically every 2 days and keeps the previous key one more \
                  interval; manually set keys never rotate",
        fix: "BoringSSL/AWS-LC: do not set keys with SSL_CTX_set_tlsext_ticket_keys (the \
              automatic 2-day rotation then applies), or rotate them yourself daily",
    },
    Family {
        id: "go",
        name: "Go crypto/tls (Caddy)",
        default: "since Go 1.15 a new key every 24 h, kept 7 days (Caddy: 12 h, 4 keys); \
                  SetSessionTicketKeys disables rotation; since Go 1.21 tickets carry no key \
                  name",
        fix: "Go: do not call Config.SetSessionTicketKeys with a fixed key (automatic daily \
              rotation), or call it again with a new key first at least daily; to limit old \
              tickets, use WrapSession/UnwrapSession or Config.SessionTicketsDisabled",
    },
    Family {
        id: "rustls",
        name: "rustls",
        default: "TicketRotator: a new key every 6 h",
        fix: "rustls: use rustls::crypto::ring::Ticketer::new() (a TicketRotator, 6 h) instead of \
              a fixed ProducesTickets implementation",
    },
    Family {
        id: "java",
        name: "Java JSSE",
        default: "a 4-byte key number, a new key every jdk.tls.server.statelessKeyTimeout \
                  (3600 s by default)",
        fix: "Java: keep jdk.tls.server.statelessKeyTimeout at 3600 s or less, and \
              javax.net.ssl.SSLSessionContext.setSessionTimeout at most a day",
    },
    Family {
        id: "lighttpd",
        name: "lighttpd",
        default: "mod_openssl rotates every 8 h and keeps two prior keys; ssl.stek-file shares \
                  keys between processes",
        fix: "lighttpd: rewrite ssl.stek-file at least daily (lighttpd reloads it), or remove it \
              for the built-in 8-hour rotation",
    },
    Family {
        id: "node",
        name: "Node.js",
        default: "ticketKeys (48 bytes) never rotated by Node itself",
        fix: "Node.js: call server.setTicketKeys(crypto.randomBytes(48)) at least daily, keeping \
              the previous keys out of use",
    },
    Family {
        id: "envoy",
        name: "Envoy",
        default: "session_ticket_keys (80 bytes) or SDS, rotated only by configuration",
        fix: "Envoy: deliver session_ticket_keys through SDS and rotate them daily, preferably \
              hourly, with the new key first",
    },
    Family {
        id: "gnutls",
        name: "GnuTLS",
        default: "keys derived from a master key, rotated with the session-cache expiration \
                  (6 h by default)",
        fix: "GnuTLS: keep the default rotation (gnutls_session_ticket_enable_server with a \
              master key regenerated at restart), and a session-cache expiration of hours",
    },
    Family {
        id: "s2n",
        name: "s2n-tls",
        default: "each key encrypts 2 h, then decrypts 13 h; keys added by the application",
        fix: "s2n-tls: add a new key with s2n_config_add_ticket_crypto_key at least every 2 hours",
    },
    Family {
        id: "mbedtls",
        name: "mbedTLS",
        default: "4-byte key id, rotated per mbedtls_ssl_ticket_setup lifetime",
        fix: "mbedTLS: pass a ticket lifetime of a day or less to mbedtls_ssl_ticket_setup",
    },
];

pub fn family(id: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.id == id)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guess {
    /// Family ids, most likely first.
    pub families: Vec<&'static str>,
    pub confidence: Confidence,
    /// What the guess rests on, in a few words each.
    pub basis: Vec<String>,
}

fn guess(families: &[&'static str], confidence: Confidence, basis: Vec<String>) -> Option<Guess> {
    Some(Guess {
        families: families.to_vec(),
        confidence,
        basis,
    })
}

/// Within 10 % of `target`.
fn near(secs: i64, target: i64) -> bool {
    (secs - target).abs() * 10 <= target
}

/// A best-effort guess; `None` when the service shows no tickets at all.
pub fn guess_family(view: &ServiceView<'_>, rotation: Option<&Rotation>) -> Option<Guess> {
    let hint = view
        .keys
        .values()
        .chain(view.unobservable.iter())
        .filter_map(|k| k.hint_max.map(|(h, _)| h as i64))
        .max();
    let period = rotation
        .filter(|r| r.rotations > 0)
        .and_then(|r| r.period)
        .map(|p| p.median);
    let mut basis = Vec::new();
    if let Some(h) = hint {
        basis.push(format!("lifetime hint {h} s"));
    }
    if let Some(p) = period {
        basis.push(format!("rotation about every {}", super::dur(p)));
    }
    // Only what the server did tells what it is: keys clients merely presented do not.
    if !view.keys.values().any(|k| k.server_seen().is_some()) {
        view.unobservable.as_ref()?.server_seen()?;
        basis.insert(0, "tickets carry no key name".into());
        return guess(&["go", "rustls"], Confidence::Medium, basis);
    }
    let len = view.key_len.bytes().unwrap_or(16);
    if len == 4 {
        basis.insert(0, "4-byte key names".into());
        if rotation.is_some_and(|r| r.counted_by_key_number) {
            basis.push("key names count up by rotation".into());
            return guess(&["java"], Confidence::High, basis);
        }
        return guess(&["java", "mbedtls"], Confidence::Low, basis);
    }
    if len != 16 {
        basis.insert(0, format!("{len}-byte key names"));
        return guess(&["s2n", "mbedtls"], Confidence::Low, basis);
    }
    basis.insert(0, "16-byte key names".into());
    // Go before 1.21 sends TLS 1.2 tickets with a lifetime hint of 0 (unspecified) only;
    // OpenSSL does so only when it renews a ticket.
    let issued = view.keys.values().any(|k| k.tickets_issued > 0);
    if issued && hint.is_none() {
        basis.push("TLS 1.2 tickets carry no lifetime hint".into());
        return guess(&["go"], Confidence::Medium, basis);
    }
    // Readable names are chosen by an operator: a key file of a web server or proxy.
    let readable = view
        .keys
        .iter()
        .filter(|(_, k)| k.server_seen().is_some())
        .all(|(n, _)| n.iter().all(|b| b.is_ascii_graphic() || *b == b' '));
    if readable {
        basis.push("key names are readable text, so set by an operator's key file".into());
        return guess(&["nginx", "apache", "haproxy"], Confidence::Medium, basis);
    }
    // A default session timeout is the next most telling.
    match hint {
        Some(300) => {
            basis.push("300 s is the default session timeout of nginx and Apache".into());
            return guess(&["nginx", "apache"], Confidence::Medium, basis);
        }
        Some(7200) => {
            basis.push("7200 s is OpenSSL's default session timeout".into());
            return guess(&["openssl", "haproxy", "node"], Confidence::Medium, basis);
        }
        Some(21_600) => {
            basis.push("21600 s is GnuTLS's default session expiration".into());
            return guess(&["gnutls"], Confidence::Medium, basis);
        }
        _ => {}
    }
    if let Some(p) = period {
        if hint.is_some_and(|h| near(p, h)) {
            basis.push(
                "keys rotate at the lifetime hint (nginx >= 1.23.2 without key files)".into(),
            );
            return guess(&["nginx", "gnutls"], Confidence::Medium, basis);
        }
        for (target, families) in [
            (2 * 86_400, &["boringssl"][..]),
            (86_400, &["go"][..]),
            (8 * 3600, &["lighttpd"][..]),
            (6 * 3600, &["rustls", "gnutls"][..]),
            (2 * 3600, &["s2n"][..]),
        ] {
            if near(p, target) {
                return guess(families, Confidence::Low, basis);
            }
        }
    }
    if hint.is_some() {
        basis.push("a configured session timeout".into());
        return guess(
            &["nginx", "apache", "haproxy", "openssl"],
            Confidence::Low,
            basis,
        );
    }
    guess(
        &["nginx", "apache", "haproxy", "openssl", "boringssl"],
        Confidence::Low,
        basis,
    )
}
