//! The DNS stub for `*.pnrp.net` (design §6), served in-process: the
//! [`pnrp_nsp::Stub`] answers from its cache on its own threads and asks
//! the clouds through [`Service::lookup_dns`] on a miss.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::info;

use super::service::Service;
use super::{DaemonConfig, DaemonError};

/// Longest time an NXDOMAIN/NODATA answer is kept (and its SOA minimum).
const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// The daemon side of [`pnrp_nsp::PeerLookup`]. Holds the service weakly so
/// the stub's cache handle inside the service does not keep it alive.
struct Lookup(Weak<Service>);

impl pnrp_nsp::PeerLookup for Lookup {
    async fn lookup(
        &self,
        host: &str,
        budget: Duration,
    ) -> Result<pnrp_nsp::LookupAnswer, pnrp_nsp::LookupError> {
        let Some(service) = self.0.upgrade() else {
            return Err(pnrp_nsp::LookupError::Unavailable);
        };
        service.lookup_dns(host, budget).await
    }
}

#[expect(
    clippy::disallowed_types,
    reason = "daemon shell: probes whether a default DNS address exists here"
)]
fn can_bind(addr: &std::net::SocketAddr) -> bool {
    std::net::UdpSocket::bind(addr).is_ok()
}

/// Binds the stub on `config.dns_listen` and connects it to `service`.
pub(super) fn start(
    config: &DaemonConfig,
    service: &Arc<Service>,
) -> Result<pnrp_nsp::Stub, DaemonError> {
    let mut listen = config.dns_listen.clone();
    if config.dns_default {
        // The defaults include [::1], which a host without IPv6 lacks:
        // serve on the default addresses that exist.
        listen.retain(can_bind);
        if listen.is_empty() {
            listen.clone_from(&config.dns_listen);
        }
    }
    let stub_config = pnrp_nsp::StubConfig {
        listen,
        ttl: config.dns_ttl,
        // A name registered elsewhere must not stay "absent" for long.
        negative_ttl: config.dns_ttl.min(NEGATIVE_TTL),
        // No more than one cloud node resolves at once (engine max_resolves).
        max_lookups: crate::engine::Config::default().max_resolves,
        poll: config.dns_poll,
        ..pnrp_nsp::StubConfig::default()
    };
    let stub = pnrp_nsp::Stub::start(
        stub_config,
        Lookup(Arc::downgrade(service)),
        &tokio::runtime::Handle::current(),
    )
    .map_err(|source| DaemonError::Bind {
        what: "DNS stub",
        addr: config
            .dns_listen
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        source,
    })?;
    service.attach_dns_cache(stub.cache_handle());
    info!(
        listen = stub
            .local_addrs()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        ttl_s = config.dns_ttl.as_secs(),
        "DNS stub for *.pnrp.net ready"
    );
    Ok(stub)
}
