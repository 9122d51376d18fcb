//! Rotation policy as the wire shows it (the model of design.md §1): how often a new issuing key
//! appears, how long an old key is still accepted after its successor issues, whether a key is
//! accepted before it issues (pre-distribution), and how far apart the hosts of one service
//! switch keys. Every figure is measured from sightings, so it is bounded by the traffic seen:
//! a period is the time between the first sightings of successive keys, a decrypt window is at
//! least the time an old key was seen accepted after its successor started.

use std::net::SocketAddr;

use crate::evidence::Evidence;
use crate::tracker::view::ServiceView;
use crate::tracker::{KeyStats, Span};

/// Minimum, median and maximum of a set of durations (seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub min: i64,
    pub median: i64,
    pub max: i64,
}

impl Stat {
    /// `None` for no values. The median of an even count is the lower middle value, so every
    /// figure is one that was measured.
    pub fn of(mut v: Vec<i64>) -> Option<Stat> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(Stat {
            min: v[0],
            median: v[(v.len() - 1) / 2],
            max: v[v.len() - 1],
        })
    }
}

/// Which sightings date a key: issuance when the service's tickets are visible (TLS 1.2),
/// else acceptance (TLS 1.3 only, where tickets are issued encrypted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    Issued,
    Accepted,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Issued => "issued",
            Basis::Accepted => "accepted",
        }
    }

    fn span(self, k: &KeyStats) -> Option<Span> {
        match self {
            Basis::Issued => k.issued,
            Basis::Accepted => k.accepted,
        }
    }
}

/// One host that started a key later than another host of the same service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skew {
    pub key: Vec<u8>,
    pub late_host: SocketAddr,
    pub seconds: i64,
}

/// A key accepted before it was seen issuing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Early {
    pub key: Vec<u8>,
    pub accepted: Evidence,
    pub issued: Evidence,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub basis: Basis,
    /// Keys in the sequence (server-seen under `basis`), oldest first, with their start.
    pub sequence: Vec<(Vec<u8>, Evidence)>,
    /// New keys that appeared; for JSSE-style counters, what the counter says.
    pub rotations: u64,
    /// `rotations` comes from an incrementing key number (Java JSSE), not from keys seen.
    pub counted_by_key_number: bool,
    pub period: Option<Stat>,
    pub decrypt_window: Option<Stat>,
    pub early: Option<Early>,
    /// Over the keys after the first (whose start the capture does not show), for services on
    /// several addresses.
    pub host_skew: Option<Stat>,
    pub worst_skew: Option<Skew>,
}

impl Rotation {
    pub fn next_key_accepted_early(&self) -> bool {
        self.early.is_some()
    }
}

/// The rotation figures of a service whose keys are observable and seen by the server; `None`
/// otherwise.
pub fn measure(view: &ServiceView<'_>) -> Option<Rotation> {
    let basis = if view.keys.values().any(|k| k.issued.is_some()) {
        Basis::Issued
    } else if view.keys.values().any(|k| k.accepted.is_some()) {
        Basis::Accepted
    } else {
        return None;
    };
    let mut sequence: Vec<(Vec<u8>, Evidence)> = view
        .keys
        .iter()
        .filter_map(|(name, k)| basis.span(k).map(|s| (name.clone(), s.first)))
        .collect();
    sequence.sort_by_key(|(name, at)| (*at, name.clone()));

    let starts: Vec<Evidence> = sequence.iter().map(|(_, at)| *at).collect();
    let mut periods: Vec<i64> = starts
        .windows(2)
        .map(|w| w[1].time.seconds_since(w[0].time))
        .collect();
    let mut rotations = sequence.len().saturating_sub(1) as u64;
    let numbers = key_numbers(&sequence);
    let counted_by_key_number = numbers.is_some();
    if let Some(nums) = numbers {
        rotations = nums[nums.len() - 1] - nums[0];
        periods = sequence
            .windows(2)
            .zip(nums.windows(2))
            .map(|(k, n)| k[1].1.time.seconds_since(k[0].1.time) / (n[1] - n[0]).max(1) as i64)
            .collect();
    }

    Some(Rotation {
        basis,
        rotations,
        counted_by_key_number,
        period: Stat::of(periods),
        decrypt_window: Stat::of(decrypt_windows(view, basis, &sequence)),
        early: early(view),
        host_skew: None,
        worst_skew: None,
        sequence,
    })
    .map(|mut r| {
        let (skew, worst) = host_skew(view, &r);
        r.host_skew = skew;
        r.worst_skew = worst;
        r
    })
}

/// Java JSSE names its keys by a 4-byte number incremented at each rotation: when the keys
/// of the sequence are such numbers, increasing in small steps with time, the numbers count
/// the rotations, seen or not.
fn key_numbers(sequence: &[(Vec<u8>, Evidence)]) -> Option<Vec<u64>> {
    if sequence.len() < 2 || sequence.iter().any(|(n, _)| n.len() != 4) {
        return None;
    }
    let nums: Vec<u64> = sequence
        .iter()
        .map(|(n, _)| u64::from(u32::from_be_bytes([n[0], n[1], n[2], n[3]])))
        .collect();
    // A counter (JSSE starts it anywhere) goes up in small steps; random 4-byte ids
    // (mbedTLS) almost never do.
    let counting = nums.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 1024);
    counting.then_some(nums)
}

/// For each key, how long after its successor was first seen issuing (accepted, for TLS 1.3
/// only) it was still seen accepted: a lower bound of the window the server keeps old keys
/// for decryption. A key accepted but never seen issuing while issuance is visible predates
/// the capture; its successor is at latest the first key of the sequence.
fn decrypt_windows(
    view: &ServiceView<'_>,
    basis: Basis,
    sequence: &[(Vec<u8>, Evidence)],
) -> Vec<i64> {
    let mut out = Vec::new();
    for (name, k) in &view.keys {
        let Some(accepted) = k.accepted else { continue };
        let successor = match basis.span(k) {
            Some(own) => sequence
                .iter()
                .find(|(n, at)| n != name && *at > own.first)
                .map(|(_, at)| *at),
            None => sequence.first().map(|(_, at)| *at),
        };
        let Some(next) = successor else { continue };
        if accepted.last >= next {
            out.push(accepted.last.time.seconds_since(next.time));
        }
    }
    out
}

/// The earliest key a host accepted while it was still issuing an older key: installed as
/// decrypt-only before it became the issuing key (pre-distribution). A key accepted moments
/// before its first issuance in the same burst of traffic is not early: only a later
/// issuance of another key by the same host proves the host was not yet issuing it. Without
/// host records (older state files) the service's spans stand in for the host's.
fn early(view: &ServiceView<'_>) -> Option<Early> {
    type Uses = Vec<(Vec<u8>, Option<Span>, Option<Span>)>;
    let mut hosts: std::collections::BTreeMap<Option<SocketAddr>, Uses> = Default::default();
    for (name, k) in &view.keys {
        if k.hosts.is_empty() {
            hosts
                .entry(None)
                .or_default()
                .push((name.clone(), k.accepted, k.issued));
        }
        for (addr, u) in &k.hosts {
            hosts
                .entry(Some(*addr))
                .or_default()
                .push((name.clone(), u.accepted, u.issued));
        }
    }
    let mut found: Option<Early> = None;
    for uses in hosts.values() {
        for (name, accepted, issued) in uses {
            let (Some(a), Some(i)) = (accepted, issued) else {
                continue;
            };
            if a.first >= i.first {
                continue;
            }
            let still_older = uses.iter().any(|(other, _, oi)| {
                other != name && oi.is_some_and(|o| o.first < i.first && o.last >= a.first)
            });
            if still_older && found.as_ref().is_none_or(|f| a.first < f.accepted) {
                found = Some(Early {
                    key: name.clone(),
                    accepted: a.first,
                    issued: i.first,
                });
            }
        }
    }
    found
}

/// How far apart the hosts of the service started each key after the first.
fn host_skew(view: &ServiceView<'_>, r: &Rotation) -> (Option<Stat>, Option<Skew>) {
    if view.svc.addresses.len() < 2 {
        return (None, None);
    }
    let mut skews = Vec::new();
    let mut worst: Option<Skew> = None;
    for (name, _) in r.sequence.iter().skip(1) {
        let Some(k) = view.keys.get(name) else {
            continue;
        };
        let starts: Vec<(Evidence, SocketAddr)> = k
            .hosts
            .iter()
            .filter_map(|(addr, u)| {
                let s = match r.basis {
                    Basis::Issued => u.issued,
                    Basis::Accepted => u.accepted,
                };
                s.map(|s| (s.first, *addr))
            })
            .collect();
        if starts.len() < 2 {
            continue;
        }
        let first = starts.iter().min().expect("two or more");
        let last = starts.iter().max().expect("two or more");
        let secs = last.0.time.seconds_since(first.0.time);
        skews.push(secs);
        if worst.as_ref().is_none_or(|w| secs > w.seconds) {
            worst = Some(Skew {
                key: name.clone(),
                late_host: last.1,
                seconds: secs,
            });
        }
    }
    (Stat::of(skews), worst)
}
