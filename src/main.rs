//! The binary: parse arguments, run, map the outcome to an exit status (0 ok, 1 alerts at
//! `--fail-on`, 2 usage or input error). A closed stdout (e.g. `| head`) is success.

use std::io::ErrorKind;
use std::process::ExitCode;

use clap::Parser;
use stekwatch::cli::{Cli, Command, Common, LiveArgs};
use stekwatch::run::{self, EXIT_ERROR, EXIT_OK};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_ERROR as u8
            } else {
                EXIT_OK as u8
            });
        }
    };
    ExitCode::from(run_command(cli) as u8)
}

fn run_command(cli: Cli) -> i32 {
    match cli.command {
        Command::Read { paths, common } => {
            let cfg = match common.validate() {
                Ok(cfg) => cfg,
                Err(e) => return fail(&e),
            };
            match run::read_files(&paths, &cfg) {
                Ok(r) => print_report(&r, &cfg),
                Err(e) => fail(&e.to_string()),
            }
        }
        Command::Report { state, output } => {
            let cfg = match output.validate() {
                Ok(cfg) => cfg,
                Err(e) => return fail(&e),
            };
            match run::report_state(&state, &cfg) {
                Ok(r) => print_report(&r, &cfg),
                Err(e) => fail(&e.to_string()),
            }
        }
        Command::Merge { states, output } => match run::merge_states(&states, &output) {
            Ok((msg, warnings)) => {
                for w in warnings {
                    eprintln!("stekwatch: warning: {w}");
                }
                eprintln!("stekwatch: {msg}");
                EXIT_OK
            }
            Err(e) => fail(&e.to_string()),
        },
        Command::Live { live, common } => live_command(live, common),
    }
}

fn print_report(report: &stekwatch::report::json::Report, cfg: &stekwatch::cli::Config) -> i32 {
    let stdout = std::io::stdout();
    match run::emit(report, cfg, &mut stdout.lock()) {
        Ok(code) => code,
        Err(e) if e.kind() == ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => fail(&format!("writing the report: {e}")),
    }
}

#[cfg(feature = "live")]
fn live_command(live: LiveArgs, common: Common) -> i32 {
    let (live, cfg) = match (live.validate(), common.validate()) {
        (Ok(l), Ok(c)) => (l, c),
        (Err(e), _) | (_, Err(e)) => return fail(&e),
    };
    stekwatch::live::run(&live, &cfg)
}

#[cfg(not(feature = "live"))]
fn live_command(live: LiveArgs, _common: Common) -> i32 {
    fail(&format!(
        "live capture on '{}' needs the cargo feature \"live\" (libpcap): install \
         libpcap-dev, then build with `cargo build --release --features live`",
        live.interface
    ))
}

fn fail(msg: &str) -> i32 {
    eprintln!("stekwatch: error: {msg}");
    EXIT_ERROR
}
