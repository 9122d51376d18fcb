//! The alert stream of a long run (`live`): rules are re-evaluated as history grows, and each
//! alert is printed once per (rule, service, key name) until its facts change (its severity,
//! or for `stek-shared` the services sharing the key). Growing numbers such as an age in
//! seconds are not facts: a key that stays unrotated is not news every second.
//!
//! Lines: `human` is one line per alert; `jsonl` is one JSON object per line, the alert fields
//! of the JSON report (design.md §4) plus `"type": "alert"`, and a final `"type": "summary"`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::json::{AlertLine, AlertOut, Report, SummaryLine};
use crate::rules::Severity;

/// What an alert is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertKey {
    pub rule: String,
    /// `None` for alerts about several services.
    pub service: Option<String>,
    pub key_name: Option<String>,
}

/// What makes an alert news again when it changes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertFacts {
    pub severity: Severity,
    pub services: Vec<String>,
}

impl AlertKey {
    pub fn of(a: &AlertOut) -> (AlertKey, AlertFacts) {
        (
            AlertKey {
                rule: a.rule.to_string(),
                service: a.service.clone(),
                key_name: a.key_name.clone(),
            },
            AlertFacts {
                severity: a.severity,
                services: a.services.clone(),
            },
        )
    }
}

/// Remembers what was printed; `news` picks the alerts not printed before with these facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertStream {
    printed: BTreeMap<AlertKey, AlertFacts>,
}

impl AlertStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// The alerts in `alerts` that are new or whose facts changed; they count as printed.
    pub fn news<'a>(&mut self, alerts: &'a [AlertOut]) -> Vec<&'a AlertOut> {
        let mut out = Vec::new();
        for a in alerts {
            let (key, facts) = AlertKey::of(a);
            if self.printed.get(&key) != Some(&facts) {
                self.printed.insert(key, facts);
                out.push(a);
            }
        }
        out
    }

    /// Whether `a` is new to this stream (not printed before with these facts); marks nothing.
    pub fn is_new(&self, a: &AlertOut) -> bool {
        let (key, facts) = AlertKey::of(a);
        self.printed.get(&key) != Some(&facts)
    }

    /// Marks an alert as printed (e.g. by an earlier run, from the state file).
    pub fn remember(&mut self, key: AlertKey, facts: AlertFacts) {
        self.printed.insert(key, facts);
    }

    pub fn printed(&self) -> impl Iterator<Item = (&AlertKey, &AlertFacts)> {
        self.printed.iter()
    }

    pub fn len(&self) -> usize {
        self.printed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.printed.is_empty()
    }

    /// Adds what another stream printed (merging states): the more severe facts win, so
    /// the merged stream does not repeat what either printed.
    pub fn merge(&mut self, other: AlertStream) {
        for (key, facts) in other.printed {
            match self.printed.get(&key) {
                Some(mine) if *mine >= facts => {}
                _ => {
                    self.printed.insert(key, facts);
                }
            }
        }
    }
}

/// One human line: `TIME SEVERITY rule message [FILE frame N]`. The time is the alert's last
/// sighting (packet time); the message names the service.
pub fn human_line(a: &AlertOut, out: &mut dyn Write) -> io::Result<()> {
    let when = a.last_seen.as_deref().unwrap_or("-");
    let evidence = a
        .evidence
        .last()
        .map(|e| format!(" [{} frame {}]", super::text::clean(&e.file), e.frame))
        .unwrap_or_default();
    writeln!(
        out,
        "{when} {:<8} {} {}{evidence}",
        a.severity.as_str().to_uppercase(),
        a.rule,
        super::text::clean(&a.message)
    )
}

/// One JSON line for an alert.
pub fn json_line(a: &AlertOut, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(
        &mut *out,
        &AlertLine {
            kind: "alert",
            alert: a,
        },
    )?;
    writeln!(out)
}

/// The closing JSON line: what the run covered and how many alerts the history holds.
pub fn summary_line(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &SummaryLine::of(r))?;
    writeln!(out)
}

/// `--format jsonl` for a whole report (`read`, `report`): every alert, then the summary.
pub fn write_jsonl(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    for a in &r.alerts {
        json_line(a, out)?;
    }
    summary_line(r, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: &'static str, severity: &str, key: &str) -> AlertOut {
        let severity = match severity {
            "critical" => Severity::Critical,
            "warning" => Severity::Warning,
            _ => Severity::Info,
        };
        AlertOut {
            id: format!("{rule}:a.test:{key}"),
            rule,
            severity,
            sni: Some("a.test".into()),
            service: Some("a.test".into()),
            addresses: vec!["127.0.0.1:443".into()],
            tunnel: None,
            key_name: Some(key.into()),
            first_seen: None,
            last_seen: None,
            message: "m".into(),
            evidence: vec![],
            age_seconds: Some(90_000),
            lifetime_hint_seconds: None,
            services: vec![],
            format: None,
            fix: None,
            new: None,
        }
    }

    #[test]
    fn an_alert_is_printed_once_while_only_its_age_grows() {
        let mut s = AlertStream::new();
        let mut a = alert("stek-not-rotated", "warning", "aa");
        assert_eq!(s.news(std::slice::from_ref(&a)).len(), 1);
        a.age_seconds = Some(100_000);
        a.message = "older now".into();
        assert!(s.news(&[a]).is_empty());
    }

    #[test]
    fn a_rise_from_warning_to_critical_is_printed_again() {
        let mut s = AlertStream::new();
        assert_eq!(
            s.news(&[alert("stek-not-rotated", "warning", "aa")]).len(),
            1
        );
        let critical = [alert("stek-not-rotated", "critical", "aa")];
        let news = s.news(&critical);
        assert_eq!(news.len(), 1);
        assert_eq!(news[0].severity, Severity::Critical);
    }

    #[test]
    fn another_key_or_rule_is_its_own_alert() {
        let mut s = AlertStream::new();
        s.news(&[alert("stek-not-rotated", "warning", "aa")]);
        let all = [
            alert("stek-not-rotated", "warning", "aa"),
            alert("stek-not-rotated", "warning", "bb"),
            alert("weak-key-name", "warning", "aa"),
        ];
        let news = s.news(&all);
        assert_eq!(news.len(), 2);
    }

    #[test]
    fn merged_streams_keep_the_more_severe_facts_in_either_order() {
        let mut w = AlertStream::new();
        w.news(&[alert("stek-not-rotated", "warning", "aa")]);
        let mut c = AlertStream::new();
        c.news(&[alert("stek-not-rotated", "critical", "aa")]);
        let mut wc = w.clone();
        wc.merge(c.clone());
        let mut cw = c.clone();
        cw.merge(w);
        assert_eq!(wc, cw);
        assert_eq!(wc, c);
    }

    #[test]
    fn json_lines_carry_the_report_fields_and_a_type() {
        let mut buf = Vec::new();
        json_line(&alert("weak-key-name", "warning", "00"), &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "alert");
        assert_eq!(v["rule"], "weak-key-name");
        assert_eq!(v["severity"], "warning");
        assert_eq!(v["key_name"], "00");
        assert_eq!(v["age_seconds"], 90_000);
    }
}
