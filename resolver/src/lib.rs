//! # pnrp — serverless peer-name resolution for Linux
//!
//! This crate implements the Peer Name Resolution Protocol in the "PNRP 4.1"
//! profile: MS-PNRP's messages, elements and algorithms, with ECDSA P-256 and
//! SHA-256 in place of RSA-1024 and SHA-1 (see `docs/protocol.md`).
//!
//! Layers, bottom up (the sans-IO core needs no runtime; build it with
//! `--no-default-features`):
//!
//! * [`name`] and [`host`] — peer names (`authority.classifier`), their
//!   validation and their `*.pnrp.net` host-name form;
//! * [`id`] — ClassifierHash, P2P ID, service location and the 256-bit PNRP ID
//!   on its ring;
//! * [`crypto`] and [`identity`] — P-256 signing behind the [`crypto::Signer`]
//!   and [`crypto::Verifier`] traits, and identities kept in key files;
//! * [`cpa`] — Certified Peer Addresses and extended payloads: build, sign,
//!   verify. Only a [`cpa::VerifiedCpa`] can be cached;
//! * [`wire`] — the total codec of all eight PNRP messages, AUTHORITY
//!   fragmentation and reassembly;
//! * `cli` (feature `daemon`) — the `pnrp` command line.
//!
//! ```
//! use pnrp::name::PeerName;
//!
//! let name: PeerName = "0.MyPrinter".parse()?;
//! assert_eq!(pnrp::host::to_host(&name)?, "myprinter.pnrp.net");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cpa;
pub mod crypto;
pub mod engine;
pub mod fuzz;
pub mod host;
pub mod id;
pub mod identity;
pub mod name;
pub mod time;
pub mod wire;

#[cfg(feature = "daemon")]
pub mod cli;
#[cfg(feature = "daemon")]
pub mod client;
#[cfg(feature = "daemon")]
pub mod daemon;
#[cfg(feature = "daemon")]
pub mod ipc;
