//! The timeline of one service as inline SVG (no script, no external resource): one row per
//! key name with its spans — seen (thin), issued (blue), accepted (green), offered but not
//! accepted (orange outline) — the decrypt window where an old key was still accepted after
//! its successor issued (hatched), a dashed line at each rotation (a key's first issuance
//! after another's), and a last row with the service's alerts placed at their evidence times
//! (severity colours; each marker's `<title>` names the rule, message and frame).
//!
//! Everything is drawn from the report model (`json::ServiceOut`, `json::AlertOut`), so it
//! shows exactly what the JSON report says. Text is escaped by `esc`.

use std::fmt::Write;

use super::json::{AlertOut, ServiceOut, SpanOut, TicketKeyOut};

const LABEL_W: f64 = 250.0;
const PLOT_W: f64 = 700.0;
const ROW_H: f64 = 22.0;
const AXIS_H: f64 = 30.0;

/// Escapes text for HTML and SVG (element content and attribute values).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// Seconds since the epoch of a report time (`2026-11-01T10:00:00.000000Z`).
pub fn epoch(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac: f64 = match t.get(19..t.len() - 1) {
        Some(f) if f.starts_with('.') => f.parse().ok()?,
        _ => 0.0,
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) as f64 + frac)
}

/// The alerts about `s` (its own, and those naming it among several services).
pub fn alerts_of<'a>(s: &ServiceOut, alerts: &'a [AlertOut]) -> Vec<&'a AlertOut> {
    alerts
        .iter()
        .filter(|a| a.service.as_deref() == Some(&s.service) || a.services.contains(&s.service))
        .collect()
}

struct Scale {
    t0: f64,
    t1: f64,
}

impl Scale {
    fn x(&self, t: f64) -> f64 {
        let span = (self.t1 - self.t0).max(1.0);
        LABEL_W + (t - self.t0).max(0.0).min(span) / span * PLOT_W
    }
}

fn span(s: &Option<SpanOut>) -> Option<(f64, f64)> {
    let s = s.as_ref()?;
    Some((epoch(&s.first)?, epoch(&s.last)?))
}

fn bar(svg: &mut String, sc: &Scale, y: f64, (a, b): (f64, f64), class: &str, title: &str) {
    let (x0, x1) = (sc.x(a), sc.x(b));
    let _ = write!(
        svg,
        r#"<rect class="{class}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
        (x1 - x0).max(4.0),
        ROW_H * 0.3,
        esc(title)
    );
}

/// `2026-11-01 10:00` of epoch seconds.
fn short(t: f64) -> String {
    let stamp = crate::time::Timestamp::from_parts(t.floor() as i64, 0).rfc3339();
    stamp[..16].replace('T', " ")
}

/// A key's row label: the start of its hex and its bytes as ASCII.
fn key_label(k: &TicketKeyOut) -> String {
    let ascii: String = (0..k.key_name.len() / 2)
        .filter_map(|i| u8::from_str_radix(&k.key_name[2 * i..2 * i + 2], 16).ok())
        .map(|b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    let hex = if k.key_name.len() > 16 {
        format!("{}…", &k.key_name[..16])
    } else {
        k.key_name.clone()
    };
    format!("{hex} {ascii}")
}

/// The SVG timeline of `s`.
pub fn svg(s: &ServiceOut, alerts: &[&AlertOut]) -> String {
    let mut times: Vec<f64> = Vec::new();
    times.extend(s.first_seen.as_deref().and_then(epoch));
    times.extend(s.last_seen.as_deref().and_then(epoch));
    for k in &s.ticket_keys {
        times.extend(k.first_seen.as_deref().and_then(epoch));
        times.extend(k.last_seen.as_deref().and_then(epoch));
    }
    for a in alerts {
        times.extend(a.evidence.iter().filter_map(|e| epoch(&e.time)));
    }
    let (Some(t0), Some(t1)) = (
        times.iter().copied().reduce(f64::min),
        times.iter().copied().reduce(f64::max),
    ) else {
        return String::from(r#"<p class="none">No time to show.</p>"#);
    };
    let sc = Scale { t0, t1 };
    let rows = s.ticket_keys.len() + 1;
    let height = AXIS_H + rows as f64 * ROW_H + 8.0;
    let width = LABEL_W + PLOT_W + 20.0;
    let mut svg = format!(
        r#"<svg class="timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="key timeline of {}">"#,
        esc(&s.service)
    );
    svg.push_str(
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" class="hatch"/></pattern></defs>"##,
    );
    axis(&mut svg, &sc, height);
    for (i, k) in s.ticket_keys.iter().enumerate() {
        let y = AXIS_H + i as f64 * ROW_H;
        key_row(&mut svg, &sc, y, k, s.ticket_keys.get(i + 1));
        if i > 0 {
            if let Some((first, _)) = span(&k.issued) {
                let x = sc.x(first);
                let _ = write!(
                    svg,
                    r#"<line class="rotation" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"><title>rotation: {} first issued {}</title></line>"#,
                    AXIS_H - 4.0,
                    height - 4.0,
                    esc(&k.key_name),
                    esc(&short(first))
                );
            }
        }
    }
    alert_row(
        &mut svg,
        &sc,
        AXIS_H + s.ticket_keys.len() as f64 * ROW_H,
        alerts,
    );
    svg.push_str("</svg>");
    svg
}

fn axis(svg: &mut String, sc: &Scale, height: f64) {
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LABEL_W}" y1="{y}" x2="{}" y2="{y}"/>"#,
        LABEL_W + PLOT_W,
        y = AXIS_H - 6.0
    );
    for i in 0..=4 {
        let t = sc.t0 + (sc.t1 - sc.t0) * f64::from(i) / 4.0;
        let x = sc.x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/><text class="tick" x="{x:.1}" y="14" text-anchor="{anchor}">{}</text>"#,
            AXIS_H - 6.0,
            height - 4.0,
            esc(&short(t))
        );
    }
}

fn key_row(svg: &mut String, sc: &Scale, y: f64, k: &TicketKeyOut, next: Option<&TicketKeyOut>) {
    let _ = write!(
        svg,
        r#"<g class="key" data-key="{}"><text class="label" x="4" y="{:.1}">{}<title>{}</title></text>"#,
        esc(&k.key_name),
        y + ROW_H * 0.65,
        esc(&key_label(k)),
        esc(&k.key_name)
    );
    if let (Some(a), Some(b)) = (
        k.first_seen.as_deref().and_then(epoch),
        k.last_seen.as_deref().and_then(epoch),
    ) {
        let _ = write!(
            svg,
            r#"<line class="seen" x1="{:.1}" y1="{m:.1}" x2="{:.1}" y2="{m:.1}"/>"#,
            sc.x(a),
            sc.x(b).max(sc.x(a) + 1.0),
            m = y + ROW_H * 0.5
        );
    }
    let what = |w: &str, n: u64| format!("{} {w} {n}", k.key_name);
    if let Some(s) = span(&k.issued) {
        bar(
            svg,
            sc,
            y + 2.0,
            s,
            "issued",
            &what("tickets issued:", k.tickets_issued),
        );
    }
    if let Some(s) = span(&k.accepted) {
        let t = what("resumptions accepted:", k.resumptions_accepted);
        bar(svg, sc, y + 2.0 + ROW_H * 0.3, s, "accepted", &t);
    }
    if let Some(s) = span(&k.offered_not_accepted) {
        let t = what(
            "offered, not accepted; offers in all:",
            k.resumptions_offered,
        );
        bar(svg, sc, y + 2.0 + ROW_H * 0.6, s, "offered", &t);
    }
    // Decrypt window: still accepted after the next key began to issue.
    if let (Some((_, last_acc)), Some((next_issue, _))) =
        (span(&k.accepted), next.and_then(|n| span(&n.issued)))
    {
        if last_acc > next_issue {
            let title = format!(
                "decrypt window: {} still accepted until {} after its successor issued from {}",
                k.key_name,
                short(last_acc),
                short(next_issue)
            );
            let (x0, x1) = (sc.x(next_issue), sc.x(last_acc));
            let _ = write!(
                svg,
                r#"<rect class="window" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
                y + 1.0,
                (x1 - x0).max(2.0),
                ROW_H - 2.0,
                esc(&title)
            );
        }
    }
    svg.push_str("</g>");
}

fn alert_row(svg: &mut String, sc: &Scale, y: f64, alerts: &[&AlertOut]) {
    let _ = write!(
        svg,
        r#"<text class="label" x="4" y="{:.1}">alerts ({})</text>"#,
        y + ROW_H * 0.65,
        alerts.len()
    );
    for a in alerts {
        for e in &a.evidence {
            let Some(t) = epoch(&e.time) else { continue };
            let x = sc.x(t);
            let m = y + ROW_H * 0.5;
            let _ = write!(
                svg,
                r#"<path class="alert {}" d="M{x:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z"><title>{} {}: {} — {} frame {} ({})</title></path>"#,
                a.severity.as_str(),
                m - 6.0,
                x + 6.0,
                m + 5.0,
                x - 6.0,
                m + 5.0,
                a.severity.as_str().to_uppercase(),
                a.rule,
                esc(&a.message),
                esc(&e.file),
                e.frame,
                esc(&e.time)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_times_parse_back_to_epoch_seconds() {
        assert_eq!(epoch("1970-01-01T00:00:00.000000Z"), Some(0.0));
        let t = crate::time::Timestamp::from_parts(1_793_491_200, 250_000_000);
        assert_eq!(epoch(&t.rfc3339()), Some(1_793_491_200.25));
        assert_eq!(epoch("2000-02-29T12:00:00.000000Z"), Some(951_825_600.0));
        assert_eq!(epoch("garbage"), None);
    }

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(esc("a\nb"), "a\\u{a}b");
    }
}
