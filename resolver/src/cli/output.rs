//! Printing results and errors: plain text, or one JSON document per command
//! with `--json`.
//!
//! Results go to stdout. Errors always go to stderr as
//! `pnrp: error: <message>`, where the message is the error followed by its
//! chain of causes joined with `": "`; with `--json` the same message is also
//! printed to stdout as `{"error": {"code": N, "kind": "...", "message": "..."}}`
//! so that a JSON consumer always gets a document. A closed stdout
//! (`BrokenPipe`, as in `pnrp … | head -1`) is treated as success, as ripgrep
//! does.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};

use serde::Serialize;

use super::{CliError, Status};

/// Where a command's results and errors go.
pub(crate) struct Output {
    json: bool,
    stdout: Box<dyn Write>,
    stderr: Box<dyn Write>,
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("json", &self.json)
            .finish_non_exhaustive()
    }
}

impl Output {
    /// Output to the process's stdout and stderr.
    pub(crate) fn new(json: bool) -> Self {
        Self::to_writers(json, Box::new(io::stdout()), Box::new(io::stderr()))
    }

    /// Output to the given writers (tests).
    pub(crate) fn to_writers(json: bool, stdout: Box<dyn Write>, stderr: Box<dyn Write>) -> Self {
        Self {
            json,
            stdout,
            stderr,
        }
    }

    /// Prints a result: `value` as one line of JSON with `--json`, else
    /// whatever `plain` writes.
    pub(crate) fn emit<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        plain: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), CliError> {
        let result = if self.json {
            write_json(&mut self.stdout, value)
        } else {
            plain(&mut self.stdout)
        };
        match result.and_then(|()| self.stdout.flush()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
            _ => Ok(()),
        }
    }

    /// Prints bytes as they are (completion scripts, the man page).
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        match self
            .stdout
            .write_all(bytes)
            .and_then(|()| self.stdout.flush())
        {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(CliError::Output(e)),
            _ => Ok(()),
        }
    }

    /// Reports a failed command.
    pub(crate) fn error(&mut self, status: Status, error: &dyn Error) {
        let message = error_chain(error);
        // Nothing sensible is left to do if stderr or stdout fail here.
        let _ = writeln!(self.stderr, "pnrp: error: {message}");
        let _ = self.stderr.flush();
        if self.json {
            let doc = serde_json::json!({
                "error": {
                    "code": status.code(),
                    "kind": status.kind(),
                    "message": message,
                }
            });
            let _ = write_json(&mut self.stdout, &doc).and_then(|()| self.stdout.flush());
        }
    }
}

fn write_json<T: Serialize + ?Sized>(w: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *w, value)?;
    w.write_all(b"\n")
}

/// `error` and its causes, joined with `": "`.
pub(crate) fn error_chain(error: &dyn Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::{Arc, Mutex};

    /// A writer whose contents the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    fn nested_error() -> CliError {
        CliError::Identity(crate::identity::IdentityError::Io {
            action: "read key file",
            path: "/s/identities/a.key".into(),
            source: io::Error::other("disk on fire"),
        })
    }

    #[test]
    fn errors_print_their_chain_to_stderr_and_json_to_stdout() {
        let (out, err) = (Shared::default(), Shared::default());
        let mut o = Output::to_writers(true, Box::new(out.clone()), Box::new(err.clone()));
        let e = nested_error();
        o.error(e.status(), &e);
        assert_eq!(
            err.text(),
            "pnrp: error: cannot read key file /s/identities/a.key: disk on fire\n"
        );
        let doc: serde_json::Value = serde_json::from_str(&out.text()).unwrap();
        assert_eq!(doc["error"]["code"], 2);
        assert_eq!(doc["error"]["kind"], "bad_input");
        assert_eq!(
            doc["error"]["message"],
            "cannot read key file /s/identities/a.key: disk on fire"
        );
    }

    #[test]
    fn plain_errors_leave_stdout_empty() {
        let (out, err) = (Shared::default(), Shared::default());
        let mut o = Output::to_writers(false, Box::new(out.clone()), Box::new(err.clone()));
        let e = nested_error();
        o.error(e.status(), &e);
        assert_eq!(out.text(), "");
        assert!(err.text().starts_with("pnrp: error: "));
    }

    #[test]
    fn emit_chooses_the_form_and_ignores_a_closed_stdout() {
        let out = Shared::default();
        let mut o = Output::to_writers(false, Box::new(out.clone()), Box::new(io::sink()));
        o.emit(&["x"], |w| writeln!(w, "plain")).unwrap();
        let mut j = Output::to_writers(true, Box::new(out.clone()), Box::new(io::sink()));
        j.emit(&["x"], |w| writeln!(w, "plain")).unwrap();
        assert_eq!(out.text(), "plain\n[\"x\"]\n");
        let mut closed = Output::to_writers(false, Box::new(Closed), Box::new(io::sink()));
        closed.emit(&(), |w| writeln!(w, "lost")).unwrap();
    }
}
