//! `stekwatch explain [RULE]`: what a rule means, why, its sources, and the fix per server family.

use std::fmt::Write;

use crate::rules::explain::{rule, RULES};
use crate::rules::family::FAMILIES;

/// The text to print, or an error naming the rules there are.
pub fn text(id: Option<&str>) -> Result<String, String> {
    let mut out = String::new();
    let Some(id) = id else {
        let _ = writeln!(out, "Rules (stekwatch explain RULE for one):");
        for r in RULES {
            let _ = writeln!(out, "  {:<26} {}", r.id, r.severity);
        }
        return Ok(out);
    };
    let r = rule(id).ok_or_else(|| {
        let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        format!("no rule named '{id}'; the rules are: {}", ids.join(", "))
    })?;
    let _ = writeln!(out, "{} ({})\n", r.id, r.severity);
    let _ = writeln!(out, "What it means:\n  {}\n", r.means);
    let _ = writeln!(out, "Why it matters:\n  {}\n", r.why);
    let _ = writeln!(out, "Sources:\n  {}\n", r.sources);
    let _ = writeln!(out, "Fix:\n  {}", r.fix);
    if r.key_fix {
        let _ = writeln!(out, "\nBy server (the report names the likely one):");
        for f in FAMILIES {
            let _ = writeln!(out, "  {} — default: {}.", f.name, f.default);
            let _ = writeln!(out, "    {}.", f.fix);
        }
    }
    Ok(out)
}
