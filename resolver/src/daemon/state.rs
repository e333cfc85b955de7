//! State that survives `kill -9` (design §6): the registrations this daemon
//! publishes and, per cloud, a few recently cached endpoints to bootstrap
//! from next time (LocalOOB, MS-PNRP §3.1.4.2). Identities live in their own
//! key files (`crate::identity`). The file is replaced atomically (write a
//! temporary file, fsync, rename), so a crash leaves either the old or the
//! new version.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::ipc::{EndpointSpec, PayloadSpec};
use crate::name::PeerName;

/// File name in the state directory.
const STATE_FILE: &str = "pnrpd-state.json";

/// A registration as requested (re-applied at start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedRegistration {
    pub(crate) name: String,
    pub(crate) endpoints: Vec<EndpointSpec>,
    pub(crate) comment: Option<String>,
    pub(crate) payload: Option<PayloadSpec>,
    pub(crate) cloud: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    version: u32,
    registrations: Vec<SavedRegistration>,
    bootstrap: BTreeMap<String, Vec<SocketAddr>>,
}

/// The persistent state and where it lives.
#[derive(Debug)]
pub(crate) struct State {
    path: PathBuf,
    saved: Saved,
    /// The parsed name of each saved registration (same order), so that
    /// adding one compares names without re-parsing them all.
    names: Vec<Option<PeerName>>,
}

impl State {
    /// Loads the state file; a missing or unreadable file is an empty state
    /// (an unreadable one is kept aside as `.corrupt`).
    pub(crate) fn load(dir: &Path) -> Self {
        let path = dir.join(STATE_FILE);
        let saved = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(path = %path.display(), error = %e, "state file unreadable; starting empty");
                let _ = std::fs::rename(&path, path.with_extension("json.corrupt"));
                Saved::default()
            }),
            Err(_) => Saved::default(),
        };
        let names = saved
            .registrations
            .iter()
            .map(|r| super::service::parse_name(&r.name).ok())
            .collect();
        Self { path, saved, names }
    }

    pub(crate) fn registrations(&self) -> &[SavedRegistration] {
        &self.saved.registrations
    }

    /// Adds (or replaces, same name and cloud) a registration.
    pub(crate) fn add(&mut self, r: SavedRegistration) {
        let name = super::service::parse_name(&r.name).ok();
        let mut i = 0;
        while i < self.names.len() {
            if self.names[i] == name && self.saved.registrations[i].cloud == r.cloud {
                self.names.remove(i);
                self.saved.registrations.remove(i);
            } else {
                i += 1;
            }
        }
        self.names.push(name);
        self.saved.registrations.push(r);
    }

    /// Removes a name's registrations (in `cloud`, or everywhere).
    pub(crate) fn remove(&mut self, name: &PeerName, cloud: Option<&str>) {
        let mut i = 0;
        while i < self.names.len() {
            let x = &self.saved.registrations[i];
            let same_name = self.names[i].as_ref() == Some(name);
            if same_name && (cloud.is_none() || x.cloud.as_deref() == cloud) {
                self.names.remove(i);
                self.saved.registrations.remove(i);
            } else {
                i += 1;
            }
        }
    }

    pub(crate) fn bootstrap(&self, cloud: &str) -> Vec<SocketAddr> {
        self.saved.bootstrap.get(cloud).cloned().unwrap_or_default()
    }

    pub(crate) fn set_bootstrap(&mut self, cloud: &str, addrs: Vec<SocketAddr>) {
        if !addrs.is_empty() {
            self.saved.bootstrap.insert(cloud.to_owned(), addrs);
        }
    }

    /// Writes the file atomically.
    pub(crate) fn save(&self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let mut saved = serde_json::to_vec_pretty(&Saved {
            version: 1,
            registrations: self.saved.registrations.clone(),
            bootstrap: self.saved.bootstrap.clone(),
        })
        .map_err(std::io::Error::other)?;
        saved.push(b'\n');
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&saved)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str) -> SavedRegistration {
        SavedRegistration {
            name: name.into(),
            endpoints: vec![],
            comment: None,
            payload: None,
            cloud: None,
        }
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path());
        s.add(reg("0.a"));
        s.add(reg("0.A"));
        s.add(reg("0.b"));
        s.set_bootstrap("Global_", vec!["127.0.0.1:3540".parse().unwrap()]);
        s.save().unwrap();
        let t = State::load(dir.path());
        assert_eq!(t.registrations().len(), 2, "0.a and 0.A are one name");
        assert_eq!(t.bootstrap("Global_").len(), 1);
        let mut t = t;
        t.remove(&"0.b".parse().unwrap(), None);
        assert_eq!(t.registrations().len(), 1);
    }

    #[test]
    fn corrupt_file_starts_empty_and_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
        let s = State::load(dir.path());
        assert!(s.registrations().is_empty());
        assert!(dir.path().join("pnrpd-state.json.corrupt").exists());
    }
}
