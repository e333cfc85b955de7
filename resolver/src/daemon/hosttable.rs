//! The writer of the host table (`hosts.table` in the runtime directory,
//! mode 0644): the verified host answers the daemon keeps for their TTL,
//! published so that the NSS module answers them without a round trip
//! (`docs/nss.md`). The format is defined once, in `nss_pnrp::table`.
//!
//! Only what `lookup.sock` gives anyone goes in: positive answers to host
//! lookups. A slot is replaced with one `pwrite`; clearing the table (any
//! registration change) writes zeros over every slot in use. The file is
//! created fresh (written aside, then renamed over any old one) when the
//! daemon starts serving, and removed at shutdown.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nss_pnrp::frame::{Addr, Family, MAX_NAME};
use nss_pnrp::table::{self, BUCKETS, SLOT_SIZE, Slot, WAYS};

/// What the daemon remembers of one slot it wrote.
#[derive(Debug, Clone)]
struct Written {
    key: Vec<u8>,
    family: Family,
    expires_ns: i64,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// `BUCKETS × WAYS`, in file order; `None` for a free (zero) slot.
    slots: Vec<Option<Written>>,
}

/// The open table.
#[derive(Debug)]
pub(crate) struct HostTable {
    inner: Mutex<Inner>,
}

/// The table's path in runtime directory `dir`.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(table::FILE_NAME)
}

/// Removes the table (at shutdown: nothing answers from it any more).
pub(crate) fn remove(dir: &Path) {
    let _ = std::fs::remove_file(path(dir));
}

#[expect(
    clippy::disallowed_methods,
    reason = "the runtime shell reads wall time: slots expire in CLOCK_REALTIME, which readers check"
)]
fn now_ns() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

impl HostTable {
    /// Creates an empty table in `dir`, replacing any file left there.
    pub(crate) fn create(dir: &Path) -> io::Result<Self> {
        let final_path = path(dir);
        let aside = dir.join(format!("{}.new", table::FILE_NAME));
        let _ = std::fs::remove_file(&aside);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&aside)?;
        let written = (|| {
            file.set_len(table::FILE_LEN)?;
            file.write_all_at(&table::header(), 0)?;
            // The umask may have narrowed the mode; readers need 0644.
            file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            std::fs::rename(&aside, &final_path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&aside);
            return Err(e);
        }
        Ok(Self {
            inner: Mutex::new(Inner {
                file,
                slots: vec![None; BUCKETS * WAYS],
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes the answer for `name` (as asked: any case, optional
    /// trailing dot) and `family`, valid for `ttl` from now. Answers that do
    /// not fit a slot are left out (the module then asks the daemon).
    pub(crate) fn publish(&self, name: &[u8], family: Family, addrs: &[Addr], ttl: Duration) {
        let mut key_buf = [0u8; MAX_NAME];
        let Some(key) = table::key(name, &mut key_buf) else {
            return;
        };
        let now = now_ns();
        let ttl_ns = i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX);
        let expires_ns = now.saturating_add(ttl_ns);
        let mut inner = self.lock();
        let slot = Slot {
            expires_ns,
            family,
            name: key,
            addrs: addrs.to_vec(),
        };
        let Some(bytes) = slot.encode() else {
            return;
        };
        let bucket = table::bucket_of(key);
        let ways = &inner.slots[bucket * WAYS..(bucket + 1) * WAYS];
        // The same key's slot, else a free or expired one, else the one
        // that expires first.
        let way = ways
            .iter()
            .position(|w| {
                w.as_ref()
                    .is_some_and(|w| w.key == key && w.family == family)
            })
            .or_else(|| {
                ways.iter()
                    .position(|w| w.as_ref().is_none_or(|w| w.expires_ns <= now))
            })
            .or_else(|| {
                (0..WAYS).min_by_key(|&i| ways[i].as_ref().map_or(i64::MIN, |w| w.expires_ns))
            })
            .unwrap_or(0);
        let i = bucket * WAYS + way;
        // Recorded as in use even if the write failed: what is there now is
        // an answer we wrote or fails its checksum, and `clear` zeros it.
        let _ = inner.file.write_all_at(&bytes, slot_offset(i));
        inner.slots[i] = Some(Written {
            key: key.to_vec(),
            family,
            expires_ns,
        });
    }

    /// Voids every slot (a registration changed): zeros over each one in
    /// use.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        let Inner { file, slots } = &mut *inner;
        let mut failed = false;
        for (i, s) in slots.iter_mut().enumerate() {
            if s.take().is_some() {
                failed |= file
                    .write_all_at(&[0u8; SLOT_SIZE], slot_offset(i))
                    .is_err();
            }
        }
        if failed {
            // Never leave a slot we could not clear: cut every bucket off
            // (readers see a short file) and extend again (zeros).
            let _ = file.set_len(table::BUCKETS_AT);
            let _ = file.set_len(table::FILE_LEN);
        }
    }
}

/// File offset of slot `i` (bucket-major).
fn slot_offset(i: usize) -> u64 {
    table::bucket_offset(i / WAYS) + ((i % WAYS) * SLOT_SIZE) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, name: &[u8], family: Family) -> Option<Vec<Addr>> {
        let image = std::fs::read(path(dir)).unwrap();
        table::lookup_in(&image, name, family, now_ns())
    }

    #[test]
    fn published_answers_are_read_back_until_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        let t = HostTable::create(tmp.path()).unwrap();
        let mode = std::fs::metadata(path(tmp.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        let a = vec![Addr::V4([10, 1, 2, 3]), Addr::V6([0x20; 16])];
        t.publish(
            b"MyHost.pnrp.net.",
            Family::Any,
            &a,
            Duration::from_secs(10),
        );
        assert_eq!(
            read(tmp.path(), b"myhost.pnrp.net", Family::Any),
            Some(a.clone())
        );
        // Republishing replaces the same slot.
        let b = vec![Addr::V4([10, 9, 9, 9])];
        t.publish(b"myhost.pnrp.net", Family::Any, &b, Duration::from_secs(10));
        assert_eq!(read(tmp.path(), b"myhost.pnrp.net", Family::Any), Some(b));
        t.clear();
        assert_eq!(read(tmp.path(), b"myhost.pnrp.net", Family::Any), None);
        // An answer already expired is never read.
        t.publish(b"x.pnrp.net", Family::Any, &a, Duration::ZERO);
        assert_eq!(read(tmp.path(), b"x.pnrp.net", Family::Any), None);
        // A second table replaces the first, empty.
        t.publish(b"y.pnrp.net", Family::Any, &a, Duration::from_secs(10));
        let _t2 = HostTable::create(tmp.path()).unwrap();
        assert_eq!(read(tmp.path(), b"y.pnrp.net", Family::Any), None);
        remove(tmp.path());
        assert!(!path(tmp.path()).exists());
    }

    #[test]
    fn a_full_bucket_evicts_the_answer_that_expires_first() {
        let tmp = tempfile::tempdir().unwrap();
        let t = HostTable::create(tmp.path()).unwrap();
        // WAYS + 1 names of one bucket.
        let names: Vec<String> = (0..)
            .map(|i| format!("n{i}.pnrp.net"))
            .filter(|n| table::bucket_of(n.as_bytes()) == 0)
            .take(WAYS + 1)
            .collect();
        let a = vec![Addr::V4([10, 0, 0, 1])];
        for (i, n) in names.iter().enumerate() {
            let ttl = Duration::from_secs(if i == 1 { 5 } else { 10 });
            t.publish(n.as_bytes(), Family::Any, &a, ttl);
        }
        for (i, n) in names.iter().enumerate() {
            let found = read(tmp.path(), n.as_bytes(), Family::Any).is_some();
            assert_eq!(found, i != 1, "{n}");
        }
    }
}
