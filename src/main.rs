//! The binary: parse arguments, run the command, exit with its status (0 ok, 1 alerts at
//! `--fail-on`, 2 usage or input error).

use std::process::ExitCode;

use clap::Parser;
use stekwatch::app::{self, cli::Cli, EXIT_ERROR, EXIT_OK};

fn main() -> ExitCode {
    let code = match Cli::try_parse() {
        Ok(cli) => app::run(cli),
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_OK
            }
        }
    };
    ExitCode::from(code as u8)
}
