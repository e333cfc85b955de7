//! Identities: labelled P-256 keys kept in key files, one file per identity.
//!
//! An [`Identity`] is a label (a local, human name such as `work`) plus the
//! [`P256Signer`] whose public key gives the authority of every secured peer
//! name it publishes (`<authority>.<classifier>`, design §3). An
//! [`IdentityStore`] keeps identities in `<state_dir>/identities/`, the
//! directory the daemon's `--state-dir` and the CLI's
//! `pnrp identity … --state-dir DIR` both point at (design §6).
//!
//! # Invariants
//!
//! * The `identities/` directory is created with mode 0700 and every key file
//!   is written with mode 0600; a key file that is group- or world-accessible
//!   (`mode & 0o077 != 0`) is refused on load, never silently used.
//! * Creating an identity is atomic and never overwrites: the key is written
//!   to a temporary file (created with `O_EXCL`, mode 0600, in the same
//!   directory), flushed to disk, then published with a hard link, which fails
//!   if the label already exists, so two concurrent `create`s of one label
//!   cannot both win. On any error the temporary file is removed, so a failed
//!   create leaves nothing behind. Temporary names start with `.`, which no
//!   label may, so they can never be mistaken for identities. (The store's
//!   filesystem must support hard links, as every Linux filesystem used for
//!   `/var/lib` does.)
//! * Labels are 1 to 64 characters of `A-Z a-z 0-9 . _ -` not starting with
//!   `.` or `-` ([`validate_label`]), so a label is always a safe file name.
//!
//! # Key file format (`<label>.key`, version 1)
//!
//! Four lines of ASCII text, each ending in `\n`, in this order:
//!
//! ```text
//! pnrp-identity v1
//! label work
//! secret 9c4f…(64 lowercase hex digits: the 32-byte big-endian P-256 scalar)
//! public 03a1…(66 lowercase hex digits: the SEC1 compressed public key)
//! ```
//!
//! The `label` line must match the file name, and on load the public key is
//! recomputed from the secret and must equal the `public` line; either
//! mismatch is reported as [`IdentityError::Corrupt`]. The public key is kept
//! in the file so that a reader can see which authority a file holds
//! (`authority` = first 160 bits of SHA-256 over those 33 bytes) without
//! decoding the secret.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use p256::elliptic_curve::zeroize::Zeroizing;

use crate::crypto::{P256Signer, PUBLIC_KEY_LEN, PublicKey, Signer};
use crate::id::BinaryAuthority;

/// Longest label, in characters (all ASCII, so also in bytes).
pub const MAX_LABEL_LEN: usize = 64;

/// The label rule in words, as error messages quote it.
pub const LABEL_RULE: &str = "an identity label is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' \
     and '-', and does not start with '.' or '-'";

/// Name of the store's subdirectory of the state directory.
pub const IDENTITIES_DIR: &str = "identities";

/// Extension of key files.
const KEY_SUFFIX: &str = ".key";

/// First line of a version-1 key file.
const FILE_MAGIC: &str = "pnrp-identity v1";

/// Mode of key files.
const KEY_FILE_MODE: u32 = 0o600;

/// Mode of the `identities/` directory (and of a state directory it creates).
const DIR_MODE: u32 = 0o700;

/// Key files are tiny; anything larger than this is not one of ours.
const MAX_KEY_FILE_LEN: u64 = 1024;

/// Which part of the label rule ([`LABEL_RULE`]) a label broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelRule {
    /// The label is empty.
    Empty,
    /// The label has more than [`MAX_LABEL_LEN`] characters.
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// The label contains a character outside `A-Z a-z 0-9 . _ -`.
    BadCharacter {
        /// The first such character.
        ch: char,
    },
    /// The label starts with `.` or `-`.
    BadStart {
        /// The first character.
        ch: char,
    },
}

impl fmt::Display for LabelRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("it is empty"),
            Self::TooLong { len } => {
                write!(f, "it has {len} characters, more than {MAX_LABEL_LEN}")
            }
            Self::BadCharacter { ch } => write!(f, "character {ch:?} is not allowed"),
            Self::BadStart { ch } => write!(f, "it starts with {ch:?}"),
        }
    }
}

/// Why a key file could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptReason {
    /// The file is larger than any key file.
    #[error("it is larger than {MAX_KEY_FILE_LEN} bytes")]
    TooLarge,
    /// The file is not UTF-8 text.
    #[error("it is not UTF-8 text")]
    NotText,
    /// The first line is not `pnrp-identity v1`.
    #[error("the first line is not \"{FILE_MAGIC}\"")]
    BadMagic,
    /// A line is missing or out of order.
    #[error("line {line} should start with \"{field} \"")]
    MissingField {
        /// 1-based line number.
        line: usize,
        /// The field expected there.
        field: &'static str,
    },
    /// There is text after the `public` line.
    #[error("there is text after the \"public\" line")]
    TrailingData,
    /// A field is not the expected number of hexadecimal digits.
    #[error("the {field} is not {digits} hexadecimal digits")]
    BadHex {
        /// The field.
        field: &'static str,
        /// The number of digits expected.
        digits: usize,
    },
    /// The secret is not a valid P-256 scalar (zero or not below the order).
    #[error("the secret is not a valid P-256 private key")]
    BadSecret,
    /// The public key does not belong to the secret.
    #[error("the public key does not match the secret")]
    PublicKeyMismatch,
    /// The `label` line does not match the file name.
    #[error("it holds label {found:?} but is named for {expected:?}")]
    LabelMismatch {
        /// The label the file name gives.
        expected: String,
        /// The label in the file.
        found: String,
    },
}

/// Why an identity operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The label breaks the label rule.
    #[error("invalid identity label {label:?}: {rule}; {LABEL_RULE}")]
    InvalidLabel {
        /// The label as given.
        label: String,
        /// The part of the rule it broke.
        rule: LabelRule,
    },
    /// `create` was asked for a label that already has a key file.
    #[error(
        "identity {label:?} already exists ({}); delete it first or choose another label",
        path.display()
    )]
    AlreadyExists {
        /// The label.
        label: String,
        /// Its key file.
        path: PathBuf,
    },
    /// There is no identity with this label.
    #[error("no identity {label:?}: {} does not exist", path.display())]
    NotFound {
        /// The label.
        label: String,
        /// The key file that would hold it.
        path: PathBuf,
    },
    /// The key file can be read or written by users other than its owner.
    #[error(
        "key file {} has mode {mode:04o}, open to other users; identity key files must be \
         private to their owner (mode 0600): run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is a symbolic link, directory or other non-regular file.
    #[error("key file {} is not a regular file (symbolic links are refused)", path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The key file is not a valid version-1 key file.
    #[error("key file {} is not a valid pnrp identity: {reason}", path.display())]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: CorruptReason,
    },
    /// An operating-system call failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, as a verb phrase ("read key file").
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl IdentityError {
    fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Checks `label` against [`LABEL_RULE`].
///
/// # Errors
///
/// [`IdentityError::InvalidLabel`], naming the part of the rule broken.
pub fn validate_label(label: &str) -> Result<(), IdentityError> {
    let invalid = |rule| IdentityError::InvalidLabel {
        label: label.to_owned(),
        rule,
    };
    let Some(first) = label.chars().next() else {
        return Err(invalid(LabelRule::Empty));
    };
    if matches!(first, '.' | '-') {
        return Err(invalid(LabelRule::BadStart { ch: first }));
    }
    if let Some(ch) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(LabelRule::BadCharacter { ch }));
    }
    // Only ASCII is left, so bytes are characters.
    if label.len() > MAX_LABEL_LEN {
        return Err(invalid(LabelRule::TooLong { len: label.len() }));
    }
    Ok(())
}

/// A labelled signing key.
#[derive(Debug, Clone)]
pub struct Identity {
    label: String,
    signer: P256Signer,
}

impl Identity {
    /// Pairs a label with a key.
    ///
    /// # Errors
    ///
    /// [`IdentityError::InvalidLabel`] if the label breaks [`LABEL_RULE`].
    pub fn new(label: &str, signer: P256Signer) -> Result<Self, IdentityError> {
        validate_label(label)?;
        Ok(Self {
            label: label.to_owned(),
            signer,
        })
    }

    /// The local label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The signing key.
    pub fn signer(&self) -> &P256Signer {
        &self.signer
    }

    /// The public key (SEC1 compressed).
    pub fn public_key(&self) -> PublicKey {
        self.signer.public_key()
    }

    /// The authority of this identity's secured peer names.
    pub fn authority(&self) -> BinaryAuthority {
        self.public_key().authority()
    }

    /// What [`IdentityStore::list`] reports about this identity.
    pub fn info(&self) -> IdentityInfo {
        let public_key = self.public_key();
        IdentityInfo {
            label: self.label.clone(),
            authority: public_key.authority(),
            public_key,
        }
    }
}

impl Signer for Identity {
    fn public_key(&self) -> PublicKey {
        self.signer.public_key()
    }

    fn sign(&self, message: &[u8]) -> crate::crypto::Signature {
        self.signer.sign(message)
    }
}

/// The public facts about one stored identity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityInfo {
    /// The label.
    pub label: String,
    /// The authority of its secured peer names.
    pub authority: BinaryAuthority,
    /// Its public key.
    pub public_key: PublicKey,
}

/// Identities stored as key files in `<state_dir>/identities/`.
#[derive(Debug, Clone)]
pub struct IdentityStore {
    dir: PathBuf,
}

impl IdentityStore {
    /// Opens the store of `state_dir`, creating `state_dir` and
    /// `state_dir/identities/` (mode 0700) if they do not exist.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Io`] if the directory cannot be created.
    pub fn open(state_dir: impl AsRef<Path>) -> Result<Self, IdentityError> {
        let store = Self::at(state_dir);
        store.ensure_dir()?;
        Ok(store)
    }

    /// The store of `state_dir`, without touching the filesystem: the
    /// directories are created by the first [`IdentityStore::create`] or
    /// [`IdentityStore::insert`], and until then the store is empty. Used
    /// where a mistyped directory must not be created by a read.
    pub fn at(state_dir: impl AsRef<Path>) -> Self {
        Self {
            dir: state_dir.as_ref().join(IDENTITIES_DIR),
        }
    }

    /// Creates the directory (and its parents) with mode 0700 if missing.
    fn ensure_dir(&self) -> Result<(), IdentityError> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&self.dir)
            .map_err(IdentityError::io("create directory", &self.dir))
    }

    /// The `identities/` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key file that holds (or would hold) `label`.
    ///
    /// # Errors
    ///
    /// [`IdentityError::InvalidLabel`] if the label breaks [`LABEL_RULE`].
    pub fn key_path(&self, label: &str) -> Result<PathBuf, IdentityError> {
        validate_label(label)?;
        Ok(self.dir.join(format!("{label}{KEY_SUFFIX}")))
    }

    /// Creates an identity with a fresh key drawn from `rng`.
    ///
    /// # Errors
    ///
    /// [`IdentityError::InvalidLabel`], [`IdentityError::AlreadyExists`] (the
    /// existing key is left untouched), or [`IdentityError::Io`]. On error
    /// nothing is left in the store.
    pub fn create(
        &self,
        label: &str,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<Identity, IdentityError> {
        let path = self.key_path(label)?;
        // Cheap early refusal; `insert` re-checks atomically.
        if path.symlink_metadata().is_ok() {
            return Err(IdentityError::AlreadyExists {
                label: label.to_owned(),
                path,
            });
        }
        self.insert(label, P256Signer::generate(rng))
    }

    /// Stores an existing key under `label` (import).
    ///
    /// # Errors
    ///
    /// As [`IdentityStore::create`].
    pub fn insert(&self, label: &str, signer: P256Signer) -> Result<Identity, IdentityError> {
        let identity = Identity::new(label, signer)?;
        let path = self.key_path(label)?;
        self.ensure_dir()?;
        let contents = encode_key_file(&identity);
        self.publish_new(label, &path, contents.as_bytes())?;
        Ok(identity)
    }

    /// Loads the identity called `label`.
    ///
    /// # Errors
    ///
    /// [`IdentityError::InvalidLabel`], [`IdentityError::NotFound`],
    /// [`IdentityError::InsecurePermissions`] (mode & 0o077 ≠ 0),
    /// [`IdentityError::NotARegularFile`], [`IdentityError::Corrupt`] or
    /// [`IdentityError::Io`].
    pub fn load(&self, label: &str) -> Result<Identity, IdentityError> {
        let path = self.key_path(label)?;
        let text = read_private_file(label, &path)?;
        let signer = decode_key_file(label, &text).map_err(|reason| IdentityError::Corrupt {
            path: path.clone(),
            reason,
        })?;
        Identity::new(label, signer)
    }

    /// Lists the stored identities, sorted by label.
    ///
    /// Every key file is loaded and checked, so one insecure or corrupt file
    /// fails the whole listing (with an error naming it). Files whose names
    /// are not `<valid label>.key` are ignored.
    ///
    /// # Errors
    ///
    /// As [`IdentityStore::load`], for the first bad file in label order.
    pub fn list(&self) -> Result<Vec<IdentityInfo>, IdentityError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(IdentityError::io("read directory", &self.dir)(e)),
        };
        let mut labels = Vec::new();
        for entry in entries {
            let entry = entry.map_err(IdentityError::io("read directory", &self.dir))?;
            let name = entry.file_name();
            let Some(label) = name.to_str().and_then(|n| n.strip_suffix(KEY_SUFFIX)) else {
                continue;
            };
            if validate_label(label).is_ok() {
                labels.push(label.to_owned());
            }
        }
        labels.sort();
        labels
            .iter()
            .map(|label| self.load(label).map(|identity| identity.info()))
            .collect()
    }

    /// Deletes the identity called `label`. The key file is removed even if it
    /// is corrupt or has insecure permissions.
    ///
    /// # Errors
    ///
    /// [`IdentityError::InvalidLabel`], [`IdentityError::NotFound`] or
    /// [`IdentityError::Io`].
    pub fn delete(&self, label: &str) -> Result<(), IdentityError> {
        let path = self.key_path(label)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(IdentityError::NotFound {
                    label: label.to_owned(),
                    path,
                });
            }
            Err(e) => return Err(IdentityError::io("delete key file", &path)(e)),
        }
        self.sync_dir()
    }

    /// Writes `contents` to a new key file at `path`, atomically and without
    /// overwriting (see the module invariants).
    fn publish_new(&self, label: &str, path: &Path, contents: &[u8]) -> Result<(), IdentityError> {
        let (mut file, temp) = self.create_temp(label)?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(IdentityError::io("write key file", &temp.path))?;
        drop(file);
        match fs::hard_link(&temp.path, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(IdentityError::AlreadyExists {
                    label: label.to_owned(),
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(IdentityError::io("create key file", path)(e)),
        }
        // The key is published; removing the temporary name is cleanup (the
        // guard retries on drop if this fails).
        temp.remove();
        self.sync_dir()
    }

    /// Creates a fresh temporary file (`O_EXCL`, mode 0600) in the store.
    fn create_temp(&self, label: &str) -> Result<(File, TempPath), IdentityError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let mut attempts = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = self.dir.join(format!(".{label}{KEY_SUFFIX}.tmp-{pid}-{n}"));
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(KEY_FILE_MODE)
                .open(&path);
            match opened {
                Ok(file) => {
                    // The umask can only remove bits from 0600, but make sure.
                    let temp = TempPath { path, armed: true };
                    file.set_permissions(fs::Permissions::from_mode(KEY_FILE_MODE))
                        .map_err(IdentityError::io("set permissions of", &temp.path))?;
                    return Ok((file, temp));
                }
                // A stale file of a crashed process with our pid: next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                }
                Err(e) => return Err(IdentityError::io("create temporary key file", &path)(e)),
            }
        }
    }

    /// Flushes the directory entry changes to disk.
    fn sync_dir(&self) -> Result<(), IdentityError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(IdentityError::io("sync directory", &self.dir))
    }
}

/// A temporary file that is removed when dropped unless already removed.
#[derive(Debug)]
struct TempPath {
    path: PathBuf,
    armed: bool,
}

impl TempPath {
    fn remove(mut self) {
        if fs::remove_file(&self.path).is_ok() {
            self.armed = false;
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Reads a key file after checking that it is a private regular file.
fn read_private_file(label: &str, path: &Path) -> Result<Zeroizing<String>, IdentityError> {
    // Refuse symbolic links before opening (open would follow them).
    match path.symlink_metadata() {
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(IdentityError::NotARegularFile {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(IdentityError::NotFound {
                label: label.to_owned(),
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(IdentityError::io("inspect key file", path)(e)),
    }
    let file = File::open(path).map_err(IdentityError::io("open key file", path))?;
    // Check the mode of what was actually opened.
    let meta = file
        .metadata()
        .map_err(IdentityError::io("inspect key file", path))?;
    if !meta.file_type().is_file() {
        return Err(IdentityError::NotARegularFile {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(IdentityError::io("read key file", path))?;
    let corrupt = |reason| IdentityError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(corrupt(CorruptReason::TooLarge));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt(CorruptReason::NotText))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Encodes the version-1 key file of `identity`.
fn encode_key_file(identity: &Identity) -> Zeroizing<String> {
    let secret: Zeroizing<[u8; 32]> =
        Zeroizing::new(identity.signer.signing_key().to_bytes().into());
    let secret_hex = Zeroizing::new(hex::encode(secret.as_ref()));
    Zeroizing::new(format!(
        "{FILE_MAGIC}\nlabel {}\nsecret {}\npublic {}\n",
        identity.label,
        secret_hex.as_str(),
        hex::encode(identity.public_key().0),
    ))
}

/// Decodes a version-1 key file that should hold `label`.
fn decode_key_file(label: &str, text: &str) -> Result<P256Signer, CorruptReason> {
    let mut lines = text.lines();
    if lines.next() != Some(FILE_MAGIC) {
        return Err(CorruptReason::BadMagic);
    }
    let mut field = |line, name: &'static str| {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|l| l.strip_prefix(' '))
            .ok_or(CorruptReason::MissingField { line, field: name })
    };
    let found = field(2, "label")?;
    let secret_hex = field(3, "secret")?;
    let public_hex = field(4, "public")?;
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(CorruptReason::TrailingData);
    }
    if found != label {
        return Err(CorruptReason::LabelMismatch {
            expected: label.to_owned(),
            found: found.to_owned(),
        });
    }
    let mut secret = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(secret_hex, secret.as_mut_slice()).map_err(|_| CorruptReason::BadHex {
        field: "secret",
        digits: 64,
    })?;
    let mut public = [0u8; PUBLIC_KEY_LEN];
    hex::decode_to_slice(public_hex, &mut public).map_err(|_| CorruptReason::BadHex {
        field: "public key",
        digits: 2 * PUBLIC_KEY_LEN,
    })?;
    let signer = P256Signer::from_scalar_bytes(&secret).ok_or(CorruptReason::BadSecret)?;
    if signer.public_key().0 != public {
        return Err(CorruptReason::PublicKeyMismatch);
    }
    Ok(signer)
}

#[cfg(test)]
#[expect(
    clippy::disallowed_types,
    reason = "tests may draw OS entropy for keys"
)]
mod tests {
    use super::*;

    use rand_core::OsRng;

    fn store() -> (tempfile::TempDir, IdentityStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = IdentityStore::open(tmp.path()).unwrap();
        (tmp, store)
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn dir_names(store: &IdentityStore) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn signer(n: u8) -> P256Signer {
        let mut s = [0u8; 32];
        s[31] = n;
        P256Signer::from_scalar_bytes(&s).unwrap()
    }

    #[test]
    fn open_creates_private_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let store = IdentityStore::open(&state).unwrap();
        assert_eq!(store.dir(), state.join("identities"));
        assert_eq!(mode_of(store.dir()), 0o700);
        // Opening again is fine.
        IdentityStore::open(&state).unwrap();
    }

    #[test]
    fn a_store_at_a_missing_directory_is_empty_until_the_first_create() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let store = IdentityStore::at(&state);
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(
            store.load("work"),
            Err(IdentityError::NotFound { .. })
        ));
        assert!(matches!(
            store.delete("work"),
            Err(IdentityError::NotFound { .. })
        ));
        assert!(!state.exists());
        store.create("work", &mut OsRng).unwrap();
        assert_eq!(mode_of(&state.join("identities")), 0o700);
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn create_then_load_round_trips() {
        let (_tmp, store) = store();
        let created = store.create("work", &mut OsRng).unwrap();
        assert_eq!(created.label(), "work");
        let loaded = store.load("work").unwrap();
        assert_eq!(loaded.public_key(), created.public_key());
        assert_eq!(loaded.authority(), created.public_key().authority());
        assert_eq!(loaded.authority().to_string().len(), 40);
    }

    #[test]
    fn key_file_is_mode_0600_and_has_the_documented_format() {
        let (_tmp, store) = store();
        store.insert("gen", signer(1)).unwrap();
        let path = store.key_path("gen").unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "pnrp-identity v1\nlabel gen\n\
             secret 0000000000000000000000000000000000000000000000000000000000000001\n\
             public 036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\n"
        );
        assert_eq!(
            store.load("gen").unwrap().authority().to_string(),
            "5baff89de7de5c1d7b6193a1567ceeeb397cbda8"
        );
    }

    #[test]
    fn create_refuses_an_existing_label_and_keeps_the_first_key() {
        let (_tmp, store) = store();
        let first = store.create("work", &mut OsRng).unwrap();
        let before = fs::read(store.key_path("work").unwrap()).unwrap();
        let err = store.create("work", &mut OsRng).unwrap_err();
        assert!(matches!(err, IdentityError::AlreadyExists { ref label, .. } if label == "work"));
        // The atomic path (insert) refuses too, even without the early check.
        let err = store.insert("work", signer(5)).unwrap_err();
        assert!(matches!(err, IdentityError::AlreadyExists { .. }));
        assert_eq!(fs::read(store.key_path("work").unwrap()).unwrap(), before);
        assert_eq!(store.load("work").unwrap().public_key(), first.public_key());
        assert_eq!(dir_names(&store), ["work.key"]);
    }

    #[test]
    fn concurrent_creates_of_one_label_have_exactly_one_winner() {
        let (_tmp, store) = store();
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=8)
                .map(|n| {
                    let store = &store;
                    scope.spawn(move || store.insert("race", signer(n)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1);
        for result in &results {
            if let Err(e) = result {
                assert!(matches!(e, IdentityError::AlreadyExists { .. }), "{e}");
            }
        }
        assert_eq!(
            store.load("race").unwrap().public_key(),
            winners[0].public_key()
        );
        assert_eq!(dir_names(&store), ["race.key"]);
    }

    #[test]
    fn create_leaves_no_temporary_files() {
        let (_tmp, store) = store();
        for label in ["a", "b", "c"] {
            store.create(label, &mut OsRng).unwrap();
        }
        assert_eq!(dir_names(&store), ["a.key", "b.key", "c.key"]);
    }

    #[test]
    fn failed_publish_leaves_nothing_behind() {
        let (_tmp, store) = store();
        // Publishing into a missing subdirectory fails after the temporary
        // file was written (works even as root, unlike a read-only directory).
        let target = store.dir().join("missing").join("work.key");
        let err = store.publish_new("work", &target, b"secret").unwrap_err();
        assert!(matches!(err, IdentityError::Io { .. }), "{err}");
        assert!(dir_names(&store).is_empty());
    }

    #[test]
    fn failed_create_in_a_read_only_store_leaves_nothing_behind() {
        let (_tmp, store) = store();
        fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o500)).unwrap();
        let result = store.create("work", &mut OsRng);
        fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o700)).unwrap();
        match result {
            Err(IdentityError::Io { .. }) => assert!(dir_names(&store).is_empty()),
            // Root ignores directory permissions.
            Ok(_) => assert_eq!(dir_names(&store), ["work.key"]),
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn invalid_labels_are_refused_and_name_the_rule() {
        let (_tmp, store) = store();
        let long = "a".repeat(65);
        let cases: [(&str, LabelRule); 6] = [
            ("", LabelRule::Empty),
            (&long, LabelRule::TooLong { len: 65 }),
            ("a b", LabelRule::BadCharacter { ch: ' ' }),
            ("../x", LabelRule::BadStart { ch: '.' }),
            ("a/b", LabelRule::BadCharacter { ch: '/' }),
            ("-x", LabelRule::BadStart { ch: '-' }),
        ];
        for (label, rule) in cases {
            let err = store.create(label, &mut OsRng).unwrap_err();
            match &err {
                IdentityError::InvalidLabel { label: l, rule: r } => {
                    assert_eq!((l.as_str(), *r), (label, rule));
                }
                other => panic!("{label:?}: unexpected {other}"),
            }
            assert!(err.to_string().contains(LABEL_RULE));
            assert!(matches!(
                store.load(label),
                Err(IdentityError::InvalidLabel { .. })
            ));
        }
        assert!(dir_names(&store).is_empty());
        for ok in ["a", "A.b_c-9", "x-", &"z".repeat(64), "0"] {
            validate_label(ok).unwrap();
        }
        assert!(validate_label("é").is_err());
    }

    #[test]
    fn group_or_world_accessible_key_files_are_refused() {
        let (_tmp, store) = store();
        store.create("work", &mut OsRng).unwrap();
        let path = store.key_path("work").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = store.load("work").unwrap_err();
            match &err {
                IdentityError::InsecurePermissions { path: p, mode: m } => {
                    assert_eq!((p, *m), (&path, mode));
                }
                other => panic!("unexpected {other}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
            assert!(
                msg.contains(&format!("chmod 600 {}", path.display())),
                "{msg}"
            );
            assert!(store.list().is_err());
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        store.load("work").unwrap();
    }

    #[test]
    fn symlinked_key_files_are_refused() {
        let (tmp, store) = store();
        store.insert("real", signer(2)).unwrap();
        let target = tmp.path().join("elsewhere.key");
        fs::copy(store.key_path("real").unwrap(), &target).unwrap();
        std::os::unix::fs::symlink(&target, store.key_path("link").unwrap()).unwrap();
        assert!(matches!(
            store.load("link"),
            Err(IdentityError::NotARegularFile { .. })
        ));
    }

    fn write_key(store: &IdentityStore, label: &str, text: &str) {
        let path = store.key_path(label).unwrap();
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn corrupt_reason(store: &IdentityStore, label: &str) -> CorruptReason {
        match store.load(label) {
            Err(IdentityError::Corrupt { reason, .. }) => reason,
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_files_are_reported_with_a_reason() {
        let (_tmp, store) = store();
        store.insert("good", signer(3)).unwrap();
        let good = fs::read_to_string(store.key_path("good").unwrap()).unwrap();
        let one = "0000000000000000000000000000000000000000000000000000000000000001";

        write_key(&store, "x", "");
        assert_eq!(corrupt_reason(&store, "x"), CorruptReason::BadMagic);
        write_key(&store, "x", "pnrp-identity v2\n");
        assert_eq!(corrupt_reason(&store, "x"), CorruptReason::BadMagic);
        write_key(&store, "x", "pnrp-identity v1\nlabel x\n");
        assert_eq!(
            corrupt_reason(&store, "x"),
            CorruptReason::MissingField {
                line: 3,
                field: "secret"
            }
        );
        write_key(&store, "x", &good);
        assert_eq!(
            corrupt_reason(&store, "x"),
            CorruptReason::LabelMismatch {
                expected: "x".into(),
                found: "good".into()
            }
        );
        let x = good.replace("label good", "label x");
        write_key(&store, "x", &format!("{x}extra\n"));
        assert_eq!(corrupt_reason(&store, "x"), CorruptReason::TrailingData);
        write_key(&store, "x", &x.replace("secret 0", "secret g"));
        assert!(matches!(
            corrupt_reason(&store, "x"),
            CorruptReason::BadHex {
                field: "secret",
                ..
            }
        ));
        let zero = format!("secret {}", "0".repeat(64));
        let secret_line = x.lines().nth(2).unwrap().to_owned();
        write_key(&store, "x", &x.replace(&secret_line, &zero));
        assert_eq!(corrupt_reason(&store, "x"), CorruptReason::BadSecret);
        write_key(&store, "x", &"#".repeat(2000));
        assert_eq!(corrupt_reason(&store, "x"), CorruptReason::TooLarge);
        fs::write(store.key_path("x").unwrap(), [0xff, 0xfe]).unwrap();
        assert_eq!(corrupt_reason(&store, "x"), CorruptReason::NotText);
        // Mismatched public key: the secret of scalar 1 with the key of 3.
        write_key(
            &store,
            "x",
            &x.replace(&secret_line, &format!("secret {one}")),
        );
        assert_eq!(
            corrupt_reason(&store, "x"),
            CorruptReason::PublicKeyMismatch
        );
        let err = store.load("x").unwrap_err().to_string();
        assert!(
            err.contains("x.key") && err.contains("does not match"),
            "{err}"
        );
    }

    #[test]
    fn list_is_sorted_and_ignores_foreign_files() {
        let (_tmp, store) = store();
        assert!(store.list().unwrap().is_empty());
        let b = store.insert("b", signer(2)).unwrap();
        let a = store.insert("a", signer(1)).unwrap();
        fs::write(store.dir().join(".a.key.tmp-1-1"), "partial").unwrap();
        fs::write(store.dir().join("notes.txt"), "hello").unwrap();
        let list = store.list().unwrap();
        assert_eq!(list, vec![a.info(), b.info()]);
        assert_eq!(list[0].authority, a.authority());
    }

    #[test]
    fn delete_removes_the_key_and_unknown_labels_are_not_found() {
        let (_tmp, store) = store();
        store.create("work", &mut OsRng).unwrap();
        store.delete("work").unwrap();
        assert!(dir_names(&store).is_empty());
        assert!(matches!(
            store.delete("work"),
            Err(IdentityError::NotFound { .. })
        ));
        assert!(matches!(
            store.load("work"),
            Err(IdentityError::NotFound { .. })
        ));
        // A key with bad permissions can still be deleted.
        store.create("open", &mut OsRng).unwrap();
        let path = store.key_path("open").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        store.delete("open").unwrap();
    }

    #[test]
    fn identity_signs_with_its_key() {
        use crate::crypto::{P256Verifier, Verifier as _};
        let id = Identity::new("k", signer(4)).unwrap();
        let sig = Signer::sign(&id, b"m");
        P256Verifier.verify(&id.public_key(), b"m", &sig).unwrap();
        assert!(Identity::new("", signer(4)).is_err());
    }
}
