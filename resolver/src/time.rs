//! Wall-clock time as the protocol carries it. The sans-IO core never reads a
//! clock: callers pass a [`UnixTime`] in.
//!
//! CPAs and extended payloads carry Not After as a Windows FILETIME: a
//! little-endian `u64` of 100-ns intervals since 1601-01-01 UTC (MS-PNRP
//! §2.2.3.1).

/// Seconds between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_OFFSET_S: u64 = 11_644_473_600;
/// FILETIME ticks per second.
const TICKS_PER_S: u64 = 10_000_000;

/// Seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// This instant as a FILETIME (saturating far in the future).
    pub fn to_filetime(self) -> FileTime {
        FileTime(
            self.0
                .saturating_add(FILETIME_UNIX_OFFSET_S)
                .saturating_mul(TICKS_PER_S),
        )
    }

    /// `self + secs`, saturating.
    #[must_use]
    pub fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// The current time, read from the operating system. Only runtime shells
    /// (daemon, CLI) call this; the engine is always handed the time.
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place the runtime shell reads wall time"
    )]
    pub fn now_from_os() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(since.as_secs())
    }
}

/// A Windows FILETIME: 100-ns ticks since 1601-01-01 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileTime(pub u64);

impl FileTime {
    /// Whole Unix seconds (times before 1970 map to 0).
    pub fn to_unix(self) -> UnixTime {
        UnixTime((self.0 / TICKS_PER_S).saturating_sub(FILETIME_UNIX_OFFSET_S))
    }
}

/// A point on a monotonic clock, in microseconds since an arbitrary origin
/// chosen by whoever drives the engine (the daemon's start, the simulator's
/// zero). Never read from the OS inside the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// `self + d`, saturating.
    #[must_use]
    pub fn plus(self, d: core::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        )
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Self) -> core::time::Duration {
        core::time::Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_round_trip() {
        let t = UnixTime(1_700_000_000);
        assert_eq!(t.to_filetime().to_unix(), t);
        assert_eq!(UnixTime(0).to_filetime(), FileTime(116_444_736_000_000_000));
    }
}
