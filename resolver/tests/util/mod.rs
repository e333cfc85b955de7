//! Test support for the `pnrp` binary, in the style of ripgrep's
//! `tests/util.rs`: [`TestCommand`] runs the built binary with a clean
//! environment and [`Outcome`] holds what it printed, with assertions that
//! show both streams when they fail.

use std::path::Path;
use std::process::Command;

/// One invocation of the built `pnrp` binary.
#[derive(Debug)]
pub(crate) struct TestCommand {
    cmd: Command,
}

impl TestCommand {
    /// `pnrp ARGS…`, with `PNRP_RUNTIME_DIR` removed from the environment so
    /// that the caller's setup cannot leak into the test.
    pub(crate) fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pnrp"));
        cmd.args(args).env_remove("PNRP_RUNTIME_DIR");
        Self { cmd }
    }

    /// Appends `--state-dir DIR`.
    pub(crate) fn state_dir(mut self, dir: &Path) -> Self {
        self.cmd.arg("--state-dir").arg(dir);
        self
    }

    /// Sets an environment variable.
    pub(crate) fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Runs the command to completion.
    pub(crate) fn run(mut self) -> Outcome {
        let output = self.cmd.output().expect("the pnrp binary runs");
        Outcome {
            command: format!("{:?}", self.cmd),
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// What a finished command printed, and its exit code.
#[derive(Debug)]
pub(crate) struct Outcome {
    command: String,
    /// The exit code (`None` if killed by a signal).
    pub(crate) code: Option<i32>,
    /// Everything written to stdout.
    pub(crate) stdout: String,
    /// Everything written to stderr.
    pub(crate) stderr: String,
}

impl Outcome {
    /// Asserts the exit code.
    #[track_caller]
    pub(crate) fn code(self, expected: i32) -> Self {
        assert_eq!(
            self.code,
            Some(expected),
            "exit code of {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.command,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts success (exit 0).
    #[track_caller]
    pub(crate) fn success(self) -> Self {
        self.code(0)
    }

    /// Asserts that the command failed with `code` and a
    /// `pnrp: error: …` message on stderr containing each of `needles`.
    #[track_caller]
    pub(crate) fn fails(self, code: i32, needles: &[&str]) -> Self {
        let out = self.code(code);
        assert!(
            out.stderr.starts_with("pnrp: error: "),
            "{}: stderr is not an error message: {:?}",
            out.command,
            out.stderr
        );
        for needle in needles {
            assert!(
                out.stderr.contains(needle),
                "{}: stderr does not mention {needle:?}: {:?}",
                out.command,
                out.stderr
            );
        }
        out
    }

    /// Stdout without its final newline, asserting it is one line.
    #[track_caller]
    pub(crate) fn line(&self) -> &str {
        let line = self
            .stdout
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("{}: no final newline: {:?}", self.command, self.stdout));
        assert!(!line.contains('\n'), "{}: more than one line", self.command);
        line
    }

    /// Stdout parsed as one JSON document.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}): {:?}",
                self.command, self.stdout
            )
        })
    }
}

/// Asserts that `s` is 40 lowercase hexadecimal digits.
#[track_caller]
pub(crate) fn assert_authority(s: &str) {
    assert!(
        s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "not a 40-hex authority: {s:?}"
    );
}
