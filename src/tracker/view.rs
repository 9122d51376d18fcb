//! A service as the rules and reports see it: key aggregates regrouped under the key-name
//! length inferred for that service (or forced by the user).

use std::collections::BTreeMap;

use crate::evidence::Evidence;

use super::{KeyStats, Service, Span, StaleMatch};
use crate::tls::ticket::{infer_key_name_len, KeyNameLen};

pub struct ServiceView<'a> {
    /// The service's name: its SNI, or its server address when clients sent none.
    pub name: &'a str,
    pub svc: &'a Service,
    pub key_len: KeyNameLen,
    /// Key name (bytes) → aggregate. Empty when keys are not observable.
    pub keys: BTreeMap<Vec<u8>, KeyStats>,
    /// Everything seen under unobservable keys, merged.
    pub unobservable: Option<KeyStats>,
}

impl<'a> ServiceView<'a> {
    pub fn new(name: &'a str, svc: &'a Service, forced_len: Option<usize>) -> Self {
        let key_len = match forced_len {
            Some(n) => KeyNameLen::Forced(n),
            None => {
                let prefixes: Vec<&[u8]> = svc.samples.values().map(|t| t.prefix()).collect();
                infer_key_name_len(&prefixes)
            }
        };
        let mut keys: BTreeMap<Vec<u8>, KeyStats> = BTreeMap::new();
        let mut unobservable = None;
        for (name16, stats) in &svc.keys {
            match key_len.bytes() {
                Some(n) => {
                    let name = name16[..n.min(name16.len())].to_vec();
                    keys.entry(name).or_default().merge(stats);
                }
                None => unobservable
                    .get_or_insert_with(KeyStats::default)
                    .merge(stats),
            }
        }
        // The oldest accepted ticket per key, from tickets whose issuance and acceptance were
        // both seen.
        // Without key names (Go, stateful tickets) the tickets still show how long the
        // server honours them: matched over all of the service's tickets.
        for life in svc.tickets.values() {
            let (Some(issued), Some(accepted)) = (life.issued, life.accepted) else {
                continue;
            };
            let k = match key_len.bytes() {
                Some(n) => keys.get_mut(&life.name()[..n.min(life.name().len())]),
                None => unobservable.as_mut(),
            };
            if let Some(k) = k {
                let age_secs = accepted.time.seconds_since(issued.time);
                k.stale_matched = k.stale_matched.max(Some(StaleMatch {
                    age_secs,
                    accepted,
                    issued,
                }));
            }
        }
        if let Some(n) = key_len.bytes() {
            iv_reuse(svc, n, &mut keys);
        }
        ServiceView {
            name,
            svc,
            key_len,
            keys,
            unobservable,
        }
    }

    /// Distinct tickets or identities seen (for judging whether inference had data).
    pub fn distinct_tickets(&self) -> usize {
        self.svc.samples.len()
    }

    pub fn span(&self) -> Option<Span> {
        self.svc.span
    }

    pub fn addresses(&self) -> Vec<String> {
        self.svc.addresses.iter().map(|a| a.to_string()).collect()
    }
}

/// Tickets under one key that share an IV and differ (their hashes differ): per key, the
/// earliest such pair of issuances. Only issued tickets count (a client can offer anything).
fn iv_reuse(svc: &Service, n: usize, keys: &mut BTreeMap<Vec<u8>, KeyStats>) {
    /// An issued ticket: where, its hash, its key name.
    type Issue<'a> = (Evidence, u64, &'a [u8]);
    let mut by_iv: BTreeMap<u64, Vec<Issue<'_>>> = BTreeMap::new();
    for (hash, life) in &svc.tickets {
        if let (Some(iv), Some(at)) = (life.iv, life.issued) {
            by_iv.entry(iv).or_default().push((at, *hash, life.name()));
        }
    }
    for mut list in by_iv.into_values().filter(|l| l.len() > 1) {
        list.sort();
        let (first, _, name) = list[0];
        let name = &name[..n.min(name.len())];
        if let Some(k) = keys.get_mut(name) {
            let pair = (first, list[1].0);
            k.iv_reuse = Some(k.iv_reuse.map_or(pair, |p| p.min(pair)));
        }
    }
}
