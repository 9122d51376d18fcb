//! What a person at a terminal sees: the progress bar of a slow read (under a pseudo-terminal
//! made by `script`, never in a pipe, never with --quiet) and colour (`--color`, NO_COLOR).

mod support;

use std::process::{Command, Stdio};

use support::*;

const ESC: &str = "\u{1b}[";

fn have_script() -> bool {
    tool_available(
        "script",
        "script (util-linux) is not installed; pseudo-terminal checks not run",
    )
}

/// Runs `shell` under a pseudo-terminal; returns what the terminal showed.
fn under_pty(shell: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new("script")
        .args(["-qec", shell, "/dev/null"])
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A read whose input trickles in for two seconds: stdin from a slow writer.
fn slow_read(extra: &str) -> String {
    format!(
        "(cat '{}'; sleep 2) | '{}' read {extra} - >/dev/null",
        s(&capture("rotation-daily.pcap")),
        env!("CARGO_BIN_EXE_stekwatch")
    )
}

#[test]
fn a_slow_read_shows_a_progress_bar_on_a_terminal() {
    if !have_script() {
        return;
    }
    let screen = under_pty(&slow_read(""), &[]);
    assert!(screen.contains("packets ("), "no progress bar: {screen:?}");
    assert!(screen.contains("<stdin>"), "{screen:?}");
}

#[test]
fn quiet_turns_the_progress_bar_off() {
    if !have_script() {
        return;
    }
    let screen = under_pty(&slow_read("--quiet"), &[]);
    assert!(!screen.contains("packets ("), "{screen:?}");
}

#[test]
fn no_progress_bar_reaches_a_pipe() {
    let out = Command::new("sh")
        .args(["-c", &slow_read("")])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn color_always_paints_severities_and_never_or_a_pipe_does_not() {
    let cap = capture("static-key-weeks.pcap");
    let text = |args: &[&str]| {
        let mut a = vec!["read"];
        a.extend_from_slice(args);
        a.push(s(&cap));
        String::from_utf8(ok(&a).stdout).unwrap()
    };
    let painted = text(&["--color", "always"]);
    assert!(
        painted.contains(&format!("{ESC}31mCRITICAL{ESC}0m")),
        "{painted}"
    );
    let plain = text(&["--color", "never"]);
    assert!(!plain.contains(ESC) && plain.contains("CRITICAL"));
    // auto into a pipe (the test's stdout is one).
    assert!(!text(&[]).contains(ESC));
    assert_eq!(text(&["--color", "never"]), text(&[]));
    // JSON is never painted.
    assert!(!text(&["--color", "always", "--format", "json"]).contains(ESC));
}

#[test]
fn color_auto_paints_on_a_terminal_unless_no_color_is_set() {
    if !have_script() {
        return;
    }
    let cmd = format!(
        "'{}' read '{}'",
        env!("CARGO_BIN_EXE_stekwatch"),
        s(&capture("static-key-weeks.pcap"))
    );
    assert!(under_pty(&cmd, &[]).contains(&format!("{ESC}31mCRITICAL")));
    let screen = under_pty(&cmd, &[("NO_COLOR", "1")]);
    assert!(
        screen.contains("CRITICAL") && !screen.contains(ESC),
        "{screen:?}"
    );
    // --color always wins over NO_COLOR.
    let screen = under_pty(&format!("{cmd} --color always"), &[("NO_COLOR", "1")]);
    assert!(screen.contains(&format!("{ESC}31mCRITICAL")));
}
