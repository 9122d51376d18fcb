//! Help a person can follow: `--help` with examples and exit statuses, shell completions and
//! the manual page generated from the same clap definitions (so they cannot go stale).

mod support;

use support::*;

fn text(args: &[&str]) -> String {
    String::from_utf8(ok(args).stdout).unwrap()
}

#[test]
fn help_shows_examples_and_exit_statuses() {
    let h = text(&["--help"]);
    assert!(
        h.contains("Examples:") && h.contains("stekwatch report --from-log"),
        "{h}"
    );
    assert!(h.contains("Exit status:"));
    for code in ["  0  ", "  1  ", "  2  "] {
        assert!(h.contains(code), "{h}");
    }
    let read = text(&["read", "--help"]);
    for opt in ["--log <FILE>", "--html <FILE>", "--color <WHEN>", "--quiet"] {
        assert!(read.contains(opt), "read --help lacks {opt}");
    }
    assert!(text(&["report", "--help"]).contains("--from-log <LOG>..."));
}

#[test]
fn completions_cover_every_command_and_option_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let c = text(&["completions", shell]);
        // Long options without their dashes: fish writes `-l from-log`.
        for word in [
            "read", "report", "merge", "live", "from-log", "html", "log", "color",
        ] {
            assert!(c.contains(word), "{shell} completions lack {word}");
        }
    }
    let out = stekwatch(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_manual_page_is_roff_naming_the_commands() {
    let m = text(&["man"]);
    assert!(m.contains(".TH stekwatch 1"), "{}", &m[..200.min(m.len())]);
    for word in ["read", "report", "merge", "completions"] {
        assert!(m.contains(word), "man page lacks {word}");
    }
    // man(1) renders it, where installed.
    let rendered = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "'{}' man | man -l - 2>/dev/null",
                env!("CARGO_BIN_EXE_stekwatch")
            ),
        ])
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output();
    match rendered {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
            assert!(String::from_utf8_lossy(&o.stdout).contains("stekwatch"));
        }
        _ => skip_notice("man(1) is not installed; the page was checked as roff only"),
    }
}
