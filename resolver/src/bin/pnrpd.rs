//! `pnrpd`, the PNRP daemon: see `pnrpd --help` and `pnrp::daemon`.

use std::process::ExitCode;

use clap::Parser as _;
use pnrp::daemon::{DaemonConfig, config::Flags};

fn main() -> ExitCode {
    let flags = Flags::parse();
    let config = match DaemonConfig::from_flags(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pnrpd: error: {e}");
            return ExitCode::from(2);
        }
    };
    pnrp::daemon::init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pnrpd: error: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(pnrp::daemon::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pnrpd: error: {e}");
            ExitCode::from(1)
        }
    }
}
