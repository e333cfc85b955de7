//! `pnrp`, the command line of the PNRP resolver: see `pnrp --help` and the
//! `pnrp::cli` module, which holds the definitions and the exit-code mapping
//! (0 success, 1 not found, 2 bad input, 3 daemon unreachable, 4 timeout).

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    pnrp::cli::run(pnrp::cli::Cli::parse())
}
