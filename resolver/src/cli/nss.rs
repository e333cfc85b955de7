//! `pnrp nss install` / `pnrp nss uninstall` (design §6): put
//! `libnss_pnrp.so.2` in the multiarch library directory and add
//! `pnrp [NOTFOUND=return]` to the `hosts:` line of `nsswitch.conf` before
//! `dns`/`resolve`, keeping a backup; both idempotent. A file this command
//! does not understand (no `hosts:` line, several of them, a continued
//! line) is left alone with an explanation.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::CliError;
use super::output::Output;

/// Arguments of `pnrp nss`.
#[derive(Debug, Clone, Args)]
pub struct NssArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: NssCommand,
    /// The nsswitch.conf to edit
    #[arg(
        long,
        global = true,
        default_value = "/etc/nsswitch.conf",
        value_name = "FILE"
    )]
    pub nsswitch: PathBuf,
    /// Library directory [default: the directory of libnss_files.so.2]
    #[arg(long, global = true, value_name = "DIR")]
    pub libdir: Option<PathBuf>,
}

/// `pnrp nss` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum NssCommand {
    /// Install the module and enable it for hosts
    Install {
        /// The built module [default: libnss_pnrp.so next to this pnrp]
        #[arg(long, value_name = "FILE")]
        module: Option<PathBuf>,
    },
    /// Disable the module for hosts and remove it
    Uninstall,
}

/// The installed file name.
const MODULE_NAME: &str = "libnss_pnrp.so.2";
/// What goes on the hosts line.
const ENTRY: &str = "pnrp [NOTFOUND=return]";

fn bad(arg: &Path, rule: impl Into<String>) -> CliError {
    CliError::BadArgument {
        arg: arg.display().to_string(),
        rule: rule.into(),
    }
}

fn default_libdir() -> PathBuf {
    let triple = format!("{}-linux-gnu", std::env::consts::ARCH);
    [
        format!("/lib/{triple}"),
        format!("/usr/lib/{triple}"),
        "/lib64".into(),
        "/usr/lib64".into(),
        "/lib".into(),
        "/usr/lib".into(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|d| d.join("libnss_files.so.2").exists())
    .unwrap_or_else(|| PathBuf::from(format!("/usr/lib/{triple}")))
}

/// Splits a hosts line's sources into tokens, keeping `[...]` actions
/// attached to the token before them.
fn tokens(sources: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_action = false;
    for word in sources.split_whitespace() {
        if in_action || word.starts_with('[') {
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(word);
            } else {
                out.push(word.to_owned());
            }
        } else {
            out.push(word.to_owned());
        }
        if word.contains('[') {
            in_action = true;
        }
        if word.contains(']') {
            in_action = false;
        }
    }
    out
}

/// The index of the single `hosts:` line, or why the file is not understood.
fn hosts_line(text: &str) -> Result<usize, String> {
    let lines: Vec<&str> = text.lines().collect();
    let hosts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("hosts:"))
        .map(|(i, _)| i)
        .collect();
    match hosts.as_slice() {
        [] => Err("it has no `hosts:` line; add one (e.g. `hosts: files dns`) first".into()),
        [i] => {
            if lines[*i].trim_end().ends_with('\\') {
                Err("its `hosts:` line is continued on the next line; edit it by hand".into())
            } else {
                Ok(*i)
            }
        }
        _ => Err("it has several `hosts:` lines; keep one".into()),
    }
}

/// Rewrites the sources of the single hosts line with `edit` (which returns
/// `None` for "nothing to do"), keeping the key and any comment.
fn edit_hosts(
    text: &str,
    edit: impl FnOnce(Vec<String>) -> Option<Vec<String>>,
) -> Result<Option<String>, String> {
    let i = hosts_line(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let (head, sources) = lines[i].split_once(':').unwrap_or((lines[i], ""));
    let (sources, comment) = match sources.split_once('#') {
        Some((s, c)) => (s, Some(c)),
        None => (sources, None),
    };
    let Some(toks) = edit(tokens(sources)) else {
        return Ok(None);
    };
    let mut line = format!("{head}: {}", toks.join(" "));
    if let Some(c) = comment {
        line.push_str(" #");
        line.push_str(c);
    }
    Ok(Some(rebuild(&lines, i, &line, text.ends_with('\n'))))
}

fn is_pnrp(t: &str) -> bool {
    t.split_whitespace().next() == Some("pnrp")
}

/// Adds `pnrp [NOTFOUND=return]` before `dns`/`resolve` (or at the end).
/// `None` if it is already there.
pub(crate) fn enable(text: &str) -> Result<Option<String>, String> {
    edit_hosts(text, |mut toks| {
        if toks.iter().any(|t| is_pnrp(t)) {
            return None;
        }
        let at = toks
            .iter()
            .position(|t| matches!(t.split_whitespace().next(), Some("dns" | "resolve")))
            .unwrap_or(toks.len());
        toks.insert(at, ENTRY.to_owned());
        Some(toks)
    })
}

/// Removes `pnrp` and its action from the hosts line. `None` if absent.
pub(crate) fn disable(text: &str) -> Result<Option<String>, String> {
    edit_hosts(text, |toks| {
        let n = toks.len();
        let kept: Vec<String> = toks.into_iter().filter(|t| !is_pnrp(t)).collect();
        (kept.len() != n).then_some(kept)
    })
}

fn rebuild(lines: &[&str], i: usize, line: &str, newline: bool) -> String {
    let mut out: Vec<&str> = lines.to_vec();
    out[i] = line;
    let mut s = out.join("\n");
    if newline {
        s.push('\n');
    }
    s
}

/// Writes `text` to `path` atomically, keeping `path.pnrp-backup` (the
/// first original) unless it exists.
fn write_with_backup(path: &Path, original: &str, text: &str) -> Result<(), CliError> {
    let io = |e| bad(path, format!("cannot write: {e}"));
    let backup = PathBuf::from(format!("{}.pnrp-backup", path.display()));
    if !backup.exists() {
        std::fs::write(&backup, original).map_err(io)?;
    }
    let tmp = PathBuf::from(format!("{}.pnrp-tmp", path.display()));
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions())
        .map_err(io)?;
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::set_permissions(&tmp, mode).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[derive(Debug, Serialize)]
struct Report {
    action: &'static str,
    nsswitch: String,
    nsswitch_changed: bool,
    module: String,
    module_changed: bool,
}

/// Runs `pnrp nss …`.
pub(crate) fn run(args: &NssArgs, out: &mut Output) -> Result<(), CliError> {
    let libdir = args.libdir.clone().unwrap_or_else(default_libdir);
    let target = libdir.join(MODULE_NAME);
    let original = std::fs::read_to_string(&args.nsswitch)
        .map_err(|e| bad(&args.nsswitch, format!("cannot read: {e}")))?;
    let (action, edited) = match &args.command {
        NssCommand::Install { .. } => ("install", enable(&original)),
        NssCommand::Uninstall => ("uninstall", disable(&original)),
    };
    // Validate everything before touching anything.
    let edited = edited.map_err(|why| bad(&args.nsswitch, format!("not edited: {why}")))?;
    let mut module_changed = false;
    if let NssCommand::Install { module } = &args.command {
        let source = module.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("libnss_pnrp.so")))
                .unwrap_or_else(|| PathBuf::from("libnss_pnrp.so"))
        });
        let bytes = std::fs::read(&source).map_err(|e| {
            bad(&source, format!("cannot read the module ({e}); build it with `cargo build --release -p nss-pnrp` or pass --module"))
        })?;
        if !bytes.starts_with(b"\x7fELF") {
            return Err(bad(&source, "is not an ELF shared object"));
        }
        if std::fs::read(&target).ok().as_deref() != Some(&bytes[..]) {
            let tmp = libdir.join(".libnss_pnrp.so.2.pnrp-tmp");
            std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, &target))
                .map_err(|e| bad(&target, format!("cannot install the module: {e}")))?;
            module_changed = true;
        }
    }
    let nsswitch_changed = edited.is_some();
    if let Some(text) = edited {
        write_with_backup(&args.nsswitch, &original, &text)?;
    }
    if matches!(args.command, NssCommand::Uninstall) && target.exists() {
        std::fs::remove_file(&target).map_err(|e| bad(&target, format!("cannot remove: {e}")))?;
        module_changed = true;
    }
    let report = Report {
        action,
        nsswitch: args.nsswitch.display().to_string(),
        nsswitch_changed,
        module: target.display().to_string(),
        module_changed,
    };
    out.emit(&report, |w| {
        writeln!(
            w,
            "{}: {} ({}), {} ({})",
            report.action,
            report.nsswitch,
            if report.nsswitch_changed {
                "changed"
            } else {
                "already so"
            },
            report.module,
            if report.module_changed {
                "changed"
            } else {
                "already so"
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_inserts_before_dns_and_is_idempotent() {
        let t = "passwd: files\nhosts:          files dns\n";
        let e = enable(t).unwrap().unwrap();
        assert_eq!(
            e,
            "passwd: files\nhosts: files pnrp [NOTFOUND=return] dns\n"
        );
        assert_eq!(enable(&e).unwrap(), None);
        assert_eq!(
            disable(&e).unwrap().unwrap(),
            "passwd: files\nhosts: files dns\n"
        );
        assert_eq!(disable(t).unwrap(), None);
    }

    #[test]
    fn enable_keeps_actions_and_comments() {
        let t =
            "hosts: files mdns4_minimal [NOTFOUND=return] resolve [!UNAVAIL=return] dns # local\n";
        let e = enable(t).unwrap().unwrap();
        assert_eq!(
            e,
            "hosts: files mdns4_minimal [NOTFOUND=return] pnrp [NOTFOUND=return] resolve [!UNAVAIL=return] dns # local\n"
        );
        assert_eq!(
            disable(&e).unwrap().unwrap(),
            "hosts: files mdns4_minimal [NOTFOUND=return] resolve [!UNAVAIL=return] dns # local\n"
        );
    }

    #[test]
    fn enable_appends_without_dns() {
        assert_eq!(
            enable("hosts: files").unwrap().unwrap(),
            "hosts: files pnrp [NOTFOUND=return]"
        );
    }

    #[test]
    fn files_it_does_not_understand_are_refused() {
        assert!(
            enable("passwd: files\n")
                .unwrap_err()
                .contains("no `hosts:` line")
        );
        assert!(
            enable("hosts: files\nhosts: dns\n")
                .unwrap_err()
                .contains("several")
        );
        assert!(
            enable("hosts: files \\\n dns\n")
                .unwrap_err()
                .contains("continued")
        );
    }
}
