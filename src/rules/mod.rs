//! Rules: pure functions of tracker state (seen through `ServiceView`s) and thresholds, giving
//! alerts with evidence. Rule ids are stable; see design.md §5 for their basis.

pub mod explain;
pub mod family;
mod hygiene;
pub mod policy;
mod rotation;
#[cfg(test)]
mod tests;
pub mod verdict;
#[cfg(test)]
mod verdict_tests;
mod weak;

use crate::decode::Tunnel;
use crate::evidence::Evidence;
use crate::time::{human_duration, Timestamp};
use crate::tls::ticket::hex;
use crate::tracker::view::ServiceView;

/// How much an alert matters; ordered, so `--fail-on` compares. Written in lower case in
/// reports, state files and on the command line.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// `--max-key-age`: key use or ticket age beyond this is a warning (default 24h).
    pub max_key_age: i64,
    /// `--critical-key-age`: beyond this, critical (default 7d); also for ticket ages.
    pub critical_key_age: i64,
    /// `--max-ticket-age`: a resumption from a ticket older than this is a warning (24h).
    pub max_ticket_age: i64,
    /// TLS 1.2 lifetime hints: RFC 5246's 24h session lifetime and RFC 8446's 7-day maximum.
    pub lifetime_warning: i64,
    pub lifetime_critical: i64,
    /// RFC 5246 §F.1.4: session IDs should not be resumed after 24 hours.
    pub session_cache_max: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_key_age: 86_400,
            critical_key_age: 604_800,
            max_ticket_age: 86_400,
            lifetime_warning: 86_400,
            lifetime_critical: 604_800,
            session_cache_max: 86_400,
        }
    }
}

impl Thresholds {
    /// Warning past `max_ticket_age`, critical past `critical_key_age`.
    fn ticket_age_severity(&self, secs: i64) -> Option<Severity> {
        if secs > self.critical_key_age {
            Some(Severity::Critical)
        } else if secs > self.max_ticket_age {
            Some(Severity::Warning)
        } else {
            None
        }
    }

    /// Warning past `max_key_age`, critical past `critical_key_age`.
    fn age_severity(&self, secs: i64) -> Option<Severity> {
        if secs > self.critical_key_age {
            Some(Severity::Critical)
        } else if secs > self.max_key_age {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub rule: &'static str,
    pub severity: Severity,
    /// The service name (SNI, or server address); `None` for alerts about several services.
    pub service: Option<String>,
    pub sni: Option<String>,
    pub addresses: Vec<String>,
    /// The service's tunnel, if it was seen through one.
    pub tunnel: Option<Tunnel>,
    pub key_name: Option<Vec<u8>>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub age_seconds: Option<i64>,
    pub lifetime_hint_seconds: Option<u32>,
    pub services: Vec<String>,
    /// `weak-stek`: how the ticket was found weak (`tls::weak::WeakFormat::label`).
    pub format: Option<&'static str>,
    /// What to change on the server, for the family it probably runs (`family`).
    pub fix: Option<String>,
}

impl Alert {
    fn for_service(
        rule: &'static str,
        severity: Severity,
        view: &ServiceView<'_>,
        message: String,
    ) -> Self {
        Alert {
            rule,
            severity,
            service: Some(view.name.to_string()),
            sni: view.svc.sni.clone(),
            addresses: view.addresses(),
            tunnel: view.svc.tunnel,
            key_name: None,
            first_seen: None,
            last_seen: None,
            message,
            evidence: Vec::new(),
            age_seconds: None,
            lifetime_hint_seconds: None,
            services: Vec::new(),
            format: None,
            fix: None,
        }
    }

    /// A stable identifier: rule, service and key (or, without a key, the lifetime hint or
    /// the host it is about), so the same finding has the same id in every run.
    pub fn id(&self) -> String {
        let subject = match (&self.key_name, self.rule) {
            // One per service and hint, whichever key sent it first.
            (_, "ticket-lifetime-too-long") => {
                format!("hint-{}", self.lifetime_hint_seconds.unwrap_or(0))
            }
            (Some(k), "ticket-rejected") => format!("{}@{}", hex(k), self.addresses.join(",")),
            (Some(k), _) => hex(k),
            (None, "ticket-rejected") => self.addresses.join(","),
            (None, _) => String::new(),
        };
        format!(
            "{}:{}:{}",
            self.rule,
            self.service.as_deref().unwrap_or(""),
            subject
        )
    }

    fn key(mut self, name: &[u8]) -> Self {
        self.key_name = Some(name.to_vec());
        self
    }

    fn seen(mut self, first: Timestamp, last: Timestamp) -> Self {
        self.first_seen = Some(first);
        self.last_seen = Some(last);
        self
    }

    fn evidence(mut self, ev: &[Evidence]) -> Self {
        self.evidence = ev.to_vec();
        self.evidence.sort();
        self.evidence.dedup();
        self
    }
}

/// What the history says of one service beyond its alerts.
#[derive(Clone, Debug)]
pub struct Assessment {
    pub rotation: Option<policy::Rotation>,
    pub verdict: verdict::Verdict,
    pub guess: Option<family::Guess>,
}

pub fn assess(view: &ServiceView<'_>, t: &Thresholds) -> Assessment {
    let rotation = policy::measure(view);
    Assessment {
        verdict: verdict::judge(view, rotation.as_ref(), t),
        guess: family::guess_family(view, rotation.as_ref()),
        rotation,
    }
}

/// Rules whose remedy is on the server's ticket-key configuration.
const KEY_RULES: &[&str] = &[
    "stek-not-rotated",
    "stale-ticket-accepted",
    "ticket-lifetime-too-long",
    "weak-key-name",
    "weak-stek",
    "ticket-iv-reuse",
];

/// The fix for a service's key handling, for the family it probably runs.
fn fix_for(guess: &family::Guess) -> Option<String> {
    let first = family::family(guess.families.first()?)?;
    let names: Vec<&str> = guess
        .families
        .iter()
        .filter_map(|id| family::family(id).map(|f| f.name))
        .collect();
    let likely = if names.len() == 1 {
        format!("Probably {}", names[0])
    } else {
        format!("Probably one of {}", names.join(", "))
    };
    let conf = match guess.confidence {
        family::Confidence::High => "high",
        family::Confidence::Medium => "medium",
        family::Confidence::Low => "low",
    };
    Some(format!(
        "{likely} ({conf} confidence: {}). {}.",
        guess.basis.join(", "),
        first.fix
    ))
}

/// Every alert the observed history proves, most severe first.
pub fn evaluate(views: &[ServiceView<'_>], t: &Thresholds) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for view in views {
        let first = alerts.len();
        rotation::stek_not_rotated(view, t, &mut alerts);
        rotation::stale_ticket_accepted(view, t, &mut alerts);
        rotation::ticket_lifetime_too_long(view, t, &mut alerts);
        rotation::session_cache_too_long(view, t, &mut alerts);
        rotation::ticket_rejected(view, &mut alerts);
        hygiene::weak_key_name(view, &mut alerts);
        hygiene::ticketbleed(view, &mut alerts);
        hygiene::psk_without_fs(view, &mut alerts);
        hygiene::early_data_offered(view, &mut alerts);
        hygiene::key_not_observable(view, &mut alerts);
        weak::weak_stek(view, &mut alerts);
        weak::ticket_iv_reuse(view, &mut alerts);
        let fix = if alerts[first..].iter().any(|a| KEY_RULES.contains(&a.rule)) {
            family::guess_family(view, policy::measure(view).as_ref())
                .as_ref()
                .and_then(fix_for)
        } else {
            None
        };
        for a in &mut alerts[first..] {
            a.fix = match &fix {
                Some(f) if KEY_RULES.contains(&a.rule) => Some(f.clone()),
                _ => explain::rule(a.rule).map(|r| r.fix.to_string()),
            };
        }
    }
    let shared = alerts.len();
    hygiene::stek_shared(views, &mut alerts);
    for a in &mut alerts[shared..] {
        a.fix = explain::rule(a.rule).map(|r| r.fix.to_string());
    }
    alerts.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(b.rule))
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.key_name.cmp(&b.key_name))
    });
    alerts
}

fn dur(secs: i64) -> String {
    human_duration(secs)
}

fn key_label(name: &[u8]) -> String {
    hex(name)
}
