//! `--html FILE`: the report as one self-contained page — inline CSS and SVG, no request to
//! anywhere, a few lines of optional script for the filter box (without script the page shows
//! everything). Built from the same `json::Report` the JSON printer writes, so every field the
//! JSON gains can show here with a line.
//!
//! Layout: the observation, then the verdict table (one row per service, worst first: by the
//! worst alert, then the number of alerts, then name), then one collapsed `<details>` per
//! service with its key timeline (`timeline::svg`) and key table, then the alert list with
//! evidence. With a thousand services the table stays one screen per hundred rows and each
//! timeline opens on demand; the filter box hides rows and sections by name, severity or rule.

use std::io::{self, Write};

use super::json::{AlertOut, Report, ServiceOut};
use super::timeline::{self, esc};
use crate::rules::Severity;

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.5em 0 .5em}
table{border-collapse:collapse;margin:.5em 0}th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}code{font:12px ui-monospace,monospace}
.sev{font-weight:bold;padding:0 4px;border-radius:3px;color:#fff}
.sev.critical{background:#c0392b}.sev.warning{background:#d68910}.sev.info{background:#2e86c1}.sev.none{background:#7f8c8d}
.verdict{font-weight:bold}.verdict.not-rotated{color:#c0392b}.verdict.rotating{color:#1e8449}
.verdict.undetermined,.verdict.not-observable{color:#b9770e}
details{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .6em}summary{cursor:pointer}
.meta{color:#555}.warn{color:#b9770e}
svg.timeline{max-width:100%;height:auto;font:11px ui-monospace,monospace}
svg .axis,svg .grid{stroke:#bbb}svg .grid{stroke-dasharray:2 3}svg .tick{fill:#555}
svg .label{fill:#222}svg .seen{stroke:#999;stroke-width:1}
svg .issued{fill:#2e86c1}svg .accepted{fill:#28b463}svg .offered{fill:none;stroke:#e67e22;stroke-width:1.5}
svg .window{fill:url(#hatch);stroke:#8e44ad;stroke-width:.5}svg .hatch{stroke:#8e44ad;stroke-width:2}
svg .rotation{stroke:#8e44ad;stroke-dasharray:4 3}
svg .alert.critical{fill:#c0392b}svg .alert.warning{fill:#d68910}svg .alert.info{fill:#2e86c1}
.legend span{margin-right:1em}.sw{display:inline-block;width:1.2em;height:.7em;margin-right:.3em;vertical-align:middle}
#filter{font-size:14px;padding:3px 6px;width:22em}
"#;

/// A few lines, optional: the filter box hides table rows and sections whose text does not
/// contain what is typed.
const SCRIPT: &str = r#"
document.getElementById('filter').addEventListener('input',function(e){
 var q=e.target.value.toLowerCase();
 document.querySelectorAll('[data-filter]').forEach(function(el){
  el.style.display=el.getAttribute('data-filter').indexOf(q)<0?'none':'';});});
"#;

/// The verdict of a service and why.
fn verdict(s: &ServiceOut) -> Option<(String, String)> {
    Some((s.verdict.kind.to_string(), s.verdict.reason.clone()))
}

fn worst(alerts: &[&AlertOut]) -> Option<Severity> {
    alerts.iter().map(|a| a.severity).max()
}

fn sev_badge(s: Option<Severity>) -> String {
    match s {
        Some(s) => format!(
            r#"<span class="sev {}">{}</span>"#,
            s.as_str(),
            s.as_str().to_uppercase()
        ),
        None => r#"<span class="sev none">none</span>"#.into(),
    }
}

/// Services worst first, with their alerts.
fn ranked(r: &Report) -> Vec<(&ServiceOut, Vec<&AlertOut>)> {
    let mut v: Vec<(&ServiceOut, Vec<&AlertOut>)> = r
        .services
        .iter()
        .map(|s| (s, timeline::alerts_of(s, &r.alerts)))
        .collect();
    v.sort_by(|(a, aa), (b, ba)| {
        worst(ba)
            .cmp(&worst(aa))
            .then(ba.len().cmp(&aa.len()))
            .then(a.service.cmp(&b.service))
    });
    v
}

/// Lower-case text the filter box matches against.
fn filter_text(s: &ServiceOut, alerts: &[&AlertOut]) -> String {
    let mut t = s.service.to_lowercase();
    for a in alerts {
        t.push(' ');
        t.push_str(a.rule);
        t.push(' ');
        t.push_str(a.severity.as_str());
    }
    for k in &s.ticket_keys {
        t.push(' ');
        t.push_str(&k.key_name);
    }
    esc(&t)
}

/// The whole page.
pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let ranked = ranked(r);
    let o = &r.observation;
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>stekwatch report</title><style>{STYLE}</style></head><body>\n"
    )?;
    writeln!(out, "<h1>stekwatch report</h1>")?;
    writeln!(
        out,
        r#"<p class="meta" id="observation">{} input(s), {} packets, {} TCP connections ({} TLS), {} → {}; {} service(s), {} alert(s).</p>"#,
        o.files.len(),
        o.packets,
        o.connections,
        r.statistics.tls_connections,
        esc(o.start.as_deref().unwrap_or("-")),
        esc(o.end.as_deref().unwrap_or("-")),
        r.services.len(),
        r.alerts.len()
    )?;
    for w in &r.warnings {
        writeln!(out, r#"<p class="warn">warning: {}</p>"#, esc(w))?;
    }
    writeln!(
        out,
        r#"<p><label>Filter: <input id="filter" type="search" placeholder="service, rule, severity or key name"></label></p>"#
    )?;
    verdict_table(&ranked, out)?;
    writeln!(out, "<h2 id=\"services\">Services</h2>")?;
    legend(out)?;
    // A few services open at once; many stay collapsed until clicked.
    let open = ranked.len() <= OPEN_UP_TO;
    for (i, (s, alerts)) in ranked.iter().enumerate() {
        service_section(i, s, alerts, open, out)?;
    }
    alert_list(r, out)?;
    writeln!(
        out,
        "<h2>Inputs</h2><ul>{}</ul>",
        o.files
            .iter()
            .map(|f| format!("<li><code>{}</code></li>", esc(f)))
            .collect::<String>()
    )?;
    writeln!(out, "<script>{SCRIPT}</script></body></html>")
}

fn verdict_table(ranked: &[(&ServiceOut, Vec<&AlertOut>)], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<h2 id=\"verdicts\">Verdicts</h2><table id=\"verdict-table\"><thead><tr><th>service</th>\
         <th>verdict</th><th>worst alert</th><th>alerts</th><th>keys</th><th>observed</th>\
         <th>handshakes (full / ticket / session ID / PSK)</th></tr></thead><tbody>"
    )?;
    for (i, (s, alerts)) in ranked.iter().enumerate() {
        let verdict = match verdict(s) {
            Some((kind, reason)) => format!(
                r#"<span class="verdict {k}" title="{}">{k}</span>"#,
                esc(&reason),
                k = esc(&kind)
            ),
            None => "—".into(),
        };
        let h = &s.handshakes;
        writeln!(
            out,
            r##"<tr class="service-row" data-filter="{}"><td><a href="#svc-{i}">{}</a></td><td>{verdict}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{} / {} / {} / {}</td></tr>"##,
            filter_text(s, alerts),
            esc(&s.service),
            sev_badge(worst(alerts)),
            alerts.len(),
            s.ticket_keys.len(),
            crate::time::human_duration(s.observed_seconds),
            h.full,
            h.resumed_ticket,
            h.resumed_session_id,
            h.resumed_psk
        )?;
    }
    writeln!(out, "</tbody></table>")
}

fn legend(out: &mut dyn Write) -> io::Result<()> {
    let sw = |color: &str, style: &str, what: &str| {
        format!(r#"<span><i class="sw" style="background:{color};{style}"></i>{what}</span>"#)
    };
    writeln!(
        out,
        r#"<p class="legend">{}{}{}{}{}{}</p>"#,
        sw("#999", "height:1px", "seen"),
        sw("#2e86c1", "", "tickets issued"),
        sw("#28b463", "", "resumptions accepted"),
        sw(
            "transparent",
            "border:1.5px solid #e67e22",
            "offered, not accepted"
        ),
        sw("#d7bde2", "", "decrypt window"),
        sw(
            "transparent",
            "border-left:2px dashed #8e44ad",
            "rotation; ▲ alerts at their evidence"
        )
    )
}

/// Up to this many services, every section starts open.
const OPEN_UP_TO: usize = 10;

fn service_section(
    i: usize,
    s: &ServiceOut,
    alerts: &[&AlertOut],
    open: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        r#"<details class="service" id="svc-{i}" data-service="{}" data-filter="{}"{}><summary>{} <b>{}</b> <span class="meta">{} — {} key(s), {} alert(s), observed {}</span></summary>"#,
        esc(&s.service),
        filter_text(s, alerts),
        if open { " open" } else { "" },
        sev_badge(worst(alerts)),
        esc(&s.service),
        esc(&s.addresses.join(", ")),
        s.ticket_keys.len(),
        alerts.len(),
        crate::time::human_duration(s.observed_seconds)
    )?;
    out.write_all(timeline::svg(s, alerts).as_bytes())?;
    writeln!(
        out,
        "<table class=\"keys\"><thead><tr><th>key name</th><th>first seen</th><th>last seen</th>\
         <th>issued</th><th>offered</th><th>accepted</th><th>oldest accepted ticket</th></tr></thead><tbody>"
    )?;
    for k in &s.ticket_keys {
        writeln!(
            out,
            r#"<tr class="key-row"><td><code>{}</code></td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            esc(&k.key_name),
            esc(k.first_seen.as_deref().unwrap_or("-")),
            esc(k.last_seen.as_deref().unwrap_or("-")),
            k.tickets_issued,
            k.resumptions_offered,
            k.resumptions_accepted,
            k.oldest_accepted_ticket_age_seconds
                .map_or("-".into(), crate::time::human_duration)
        )?;
    }
    writeln!(out, "</tbody></table>")?;
    for a in alerts {
        writeln!(
            out,
            r#"<p>{} <code>{}</code> {}</p>"#,
            sev_badge(Some(a.severity)),
            a.rule,
            esc(&a.message)
        )?;
    }
    writeln!(out, "</details>")
}

fn alert_list(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut alerts: Vec<&AlertOut> = r.alerts.iter().collect();
    alerts.sort_by_key(|a| std::cmp::Reverse(a.severity));
    writeln!(
        out,
        "<h2 id=\"alerts\">Alerts ({})</h2><table id=\"alert-table\"><thead><tr><th>severity</th>\
         <th>rule</th><th>service</th><th>key name</th><th>message</th><th>evidence</th></tr></thead><tbody>",
        alerts.len()
    )?;
    for a in alerts {
        let subject = a.service.clone().unwrap_or_else(|| a.services.join(", "));
        let evidence: String = a
            .evidence
            .iter()
            .map(|e| {
                format!(
                    "<div><code>{}</code> frame {} ({})</div>",
                    esc(&e.file),
                    e.frame,
                    esc(&e.time)
                )
            })
            .collect();
        writeln!(
            out,
            r#"<tr class="alert-row" data-rule="{}" data-filter="{}"><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{evidence}</td></tr>"#,
            a.rule,
            esc(&format!(
                "{} {} {}",
                subject.to_lowercase(),
                a.rule,
                a.severity.as_str()
            )),
            sev_badge(Some(a.severity)),
            a.rule,
            esc(&subject),
            esc(a.key_name.as_deref().unwrap_or("-")),
            esc(&a.message)
        )?;
    }
    writeln!(out, "</tbody></table>")
}

/// Writes the page to `path` (replacing it).
pub fn write_file(r: &Report, path: &std::path::Path) -> io::Result<()> {
    let mut f = io::BufWriter::new(std::fs::File::create(path)?);
    write(r, &mut f)?;
    f.flush()
}
