//! Resolve a name through the running pnrpd (blocking client):
//! `cargo run --example resolve -- myhost.pnrp.net [RUNTIME_DIR]`.

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "myhost.pnrp.net".into());
    let dir = args.next().unwrap_or_else(|| "/run/pnrp".into());
    let client = pnrp::client::Client::new(dir);
    match client.resolve(&name, 5, Duration::from_secs(2)) {
        Ok(results) => {
            for r in results {
                for e in &r.endpoints {
                    println!("{} {} {} {}", r.peer_name, e.addr, e.port, e.proto);
                }
            }
            Ok(())
        }
        Err(e) if e.is_not_found() => {
            eprintln!("{name}: not found");
            std::process::exit(1);
        }
        Err(e) => Err(e.into()),
    }
}
