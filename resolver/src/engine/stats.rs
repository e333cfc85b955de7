//! Plain counters of one node (what quinn calls connection stats). Remote
//! misbehaviour is counted here rather than logged.

/// Counters; all monotonically increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Stats {
    pub rx_datagrams: u64,
    pub rx_bytes: u64,
    pub tx_datagrams: u64,
    pub tx_bytes: u64,
    pub retransmits: u64,
    pub timeouts: u64,
    pub maintenance_ticks: u64,
    pub dropped_low_port: u64,
    pub dropped_malformed: u64,
    pub dropped_rate: u64,
    pub dropped_unsolicited: u64,
    pub dropped_pending_full: u64,
    pub dropped_tx_queue: u64,
    pub encode_errors: u64,
    /// CPAs that failed verification (forged, replayed, expired, mismatched).
    pub cpa_rejected: u64,
    /// Route entries admitted to the cache after validation.
    pub admitted: u64,
    /// Route entries refused at admission (N, timeout, bad CPA).
    pub admission_refused: u64,
    /// Route entries not validated because caching them could only replace
    /// a recently validated entry of their own sub-bucket.
    pub admission_skipped: u64,
    /// Split-detection resolutions started.
    pub split_tests: u64,
    /// LOOKUPs answered.
    pub lookups_served: u64,
    /// INQUIREs answered.
    pub inquires_served: u64,
    /// Registration refreshes announced (registration resolve and leaf-set
    /// flood).
    pub refreshes: u64,
    /// Registration refreshes skipped: nothing around the ID had changed.
    pub refreshes_skipped: u64,
}
