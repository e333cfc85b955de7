//! Two embedded nodes (no daemon) in a private cloud on loopback: one
//! publishes, the other resolves. `cargo run --example embedded`.

use std::time::Duration;

use pnrp::client::EmbeddedNode;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let a = EmbeddedNode::start("example", "127.0.0.1:47001".parse()?, vec![]).await?;
        let b = EmbeddedNode::start(
            "example",
            "127.0.0.1:47002".parse()?,
            vec!["127.0.0.1:47001".parse()?],
        )
        .await?;
        a.register("0.chat", &["127.0.0.1:6667/tcp"], Some("example chat"))
            .await?;
        let found = b
            .resolve("chat.pnrp.net", 1, Duration::from_secs(3))
            .await?;
        println!(
            "{} is at {}:{} ({} LOOKUP hops)",
            found[0].peer_name,
            found[0].endpoints[0].addr,
            found[0].endpoints[0].port,
            found[0].hops
        );
        Ok(())
    })
}
