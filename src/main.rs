//! The binary: parse arguments, run, map the outcome to an exit status (0 ok, 1 alerts at
//! `--fail-on`, 2 usage or input error). A closed stdout (e.g. `| head`) is success.

use std::io::ErrorKind;
use std::process::ExitCode;

use clap::Parser;
use stekwatch::cli::{Cli, Command};
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
            let report = match run::read_files(&paths, &cfg) {
                Ok(r) => r,
                Err(e) => return fail(&e.to_string()),
            };
            let stdout = std::io::stdout();
            match run::emit(&report, &cfg, &mut stdout.lock()) {
                Ok(code) => code,
                Err(e) if e.kind() == ErrorKind::BrokenPipe => EXIT_OK,
                Err(e) => fail(&format!("writing the report: {e}")),
            }
        }
        Command::Live { interface, .. } => fail(&format!(
            "live capture on '{interface}' needs the cargo feature \"live\" (libpcap): \
             install libpcap-dev, then build with `cargo build --release --features live`"
        )),
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("stekwatch: error: {msg}");
    EXIT_ERROR
}
