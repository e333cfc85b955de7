//! Tests of the `pnrp` binary as a user runs it (design §6): output, `--json`
//! shapes, exit codes and the files it leaves behind.
//!
//! Every test runs the built binary through [`util::TestCommand`] with its own
//! temporary directories; none needs a daemon, the network or root.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "process-level tests run helper threads like any shell"
)]
#![cfg(feature = "daemon")]

mod util;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use util::{TestCommand, assert_authority};

/// The authority of the P-256 key with scalar 1 (see `crypto.rs`).
const AUTHORITY: &str = "5baff89de7de5c1d7b6193a1567ceeeb397cbda8";

fn pnrp<const N: usize>(args: [&str; N]) -> TestCommand {
    TestCommand::new(args)
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------- general

#[test]
fn help_documents_the_exit_codes() {
    let out = pnrp(["--help"]).run().success();
    assert!(out.stdout.contains("Exit status:"), "{}", out.stdout);
    for code in [
        "0  success",
        "1  not found",
        "2  bad input",
        "3  pnrpd",
        "4  timeout",
    ] {
        assert!(out.stdout.contains(code), "--help lacks {code:?}");
    }
    let out = pnrp(["identity", "--help"]).run().success();
    assert!(out.stdout.contains("Exit status:"));
    assert!(out.stdout.contains("--state-dir"));
}

#[test]
fn version_prints_the_package_version() {
    let out = pnrp(["--version"]).run().success();
    assert_eq!(out.line(), format!("pnrp {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    pnrp([]).run().code(2);
    pnrp(["frobnicate"]).run().code(2);
    pnrp(["name"]).run().code(2);
    pnrp(["name", "to-host"]).run().code(2);
    pnrp(["identity", "create"]).run().code(2);
    pnrp(["name", "to-host", "0.a", "0.b"]).run().code(2);
}

// ------------------------------------------------------------------ names

#[test]
fn to_host_lowercases_an_unsecured_name() {
    let out = pnrp(["name", "to-host", "0.MyPrinter"]).run().success();
    assert_eq!(out.stdout, "myprinter.pnrp.net\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn to_host_follows_the_design_examples() {
    let secured = format!("{AUTHORITY}.Service");
    let empty = format!("{AUTHORITY}.");
    let cases = [
        ("0.Games.Lobby", "games.lobby.pnrp.net".to_owned()),
        ("0.Café", "xn--caf-dma.pnrp.net".to_owned()),
        (&secured, format!("service.p{AUTHORITY}.pnrp.net")),
        (&empty, format!("p{AUTHORITY}.pnrp.net")),
    ];
    for (peer_name, host_name) in cases {
        let out = pnrp(["name", "to-host", peer_name]).run().success();
        assert_eq!(out.line(), host_name, "to-host {peer_name}");
    }
}

#[test]
fn from_host_inverts_to_host() {
    let upper_authority = AUTHORITY.to_uppercase();
    let names = [
        "0.MyPrinter".to_owned(),
        "0.Café".to_owned(),
        "0.Games.Lobby".to_owned(),
        "0.Ünïcödé.Straße".to_owned(),
        "0.日本語".to_owned(),
        format!("{AUTHORITY}.Service"),
        format!("{upper_authority}.Service.Sub"),
        format!("{AUTHORITY}."),
    ];
    for name in &names {
        let host = pnrp(["name", "to-host", name])
            .run()
            .success()
            .line()
            .to_owned();
        let back = pnrp(["name", "from-host", &host]).run().success();
        // Host names are lowercase, so the classifier comes back lowercase;
        // matching is case-insensitive (design §3).
        assert_eq!(back.line(), name.to_lowercase(), "{name} -> {host}");
        let again = pnrp(["name", "to-host", back.line()]).run().success();
        assert_eq!(again.line(), host, "to-host is stable for {name}");
    }
}

#[test]
fn from_host_accepts_any_case_and_a_trailing_dot() {
    let out = pnrp(["name", "from-host", "MyPrinter.PNRP.NET."])
        .run()
        .success();
    assert_eq!(out.line().to_lowercase(), "0.myprinter");
    let host = format!("Service.P{}.Pnrp.Net", AUTHORITY.to_uppercase());
    let out = pnrp(["name", "from-host", &host]).run().success();
    assert_eq!(out.line().to_lowercase(), format!("{AUTHORITY}.service"));
}

#[test]
fn invalid_peer_names_exit_2_naming_the_rule() {
    let long_classifier = format!("0.{}", "x".repeat(150));
    let long_label = format!("0.{}", "a".repeat(64));
    let ambiguous = format!("0.printer.p{AUTHORITY}");
    let cases: [(&str, &[&str]); 10] = [
        ("", &["empty"]),
        ("x", &["authority.classifier"]),
        ("zz.Printer", &["authority", "40 hex"]),
        (".Printer", &["authority", "empty"]),
        ("0.", &["classifier", "empty"]),
        ("0.My Printer", &["whitespace"]),
        ("0.a\tb", &["U+0009"]),
        (&long_classifier, &["149"]),
        (&long_label, &["63"]),
        (&ambiguous, &["ambiguous"]),
    ];
    for (input, needles) in cases {
        let out = pnrp(["name", "to-host", input]).run().fails(2, needles);
        assert_eq!(out.stdout, "", "nothing on stdout for {input:?}");
    }
}

#[test]
fn invalid_host_names_exit_2_naming_the_rule() {
    let long_label = format!("{}.pnrp.net", "a".repeat(64));
    let cases: [(&str, &[&str]); 6] = [
        ("", &["empty"]),
        ("myprinter.example.com", &["pnrp.net"]),
        ("pnrp.net", &["no label"]),
        ("a..b.pnrp.net", &["empty"]),
        ("my printer.pnrp.net", &[" "]),
        (&long_label, &["63"]),
    ];
    for (input, needles) in cases {
        let out = pnrp(["name", "from-host", input]).run().fails(2, needles);
        assert_eq!(out.stdout, "", "nothing on stdout for {input:?}");
    }
}

#[test]
fn name_json_has_peer_name_and_host_name() {
    let doc = pnrp(["--json", "name", "to-host", "0.MyPrinter"])
        .run()
        .success()
        .json();
    assert_eq!(doc["peer_name"], "0.MyPrinter");
    assert_eq!(doc["host_name"], "myprinter.pnrp.net");
    assert_eq!(doc["secured"], false);

    let host = format!("service.p{AUTHORITY}.pnrp.net");
    // Global flags work after the subcommand too.
    let doc = pnrp(["name", "from-host", &host, "--json"])
        .run()
        .success()
        .json();
    assert_eq!(doc["peer_name"], format!("{AUTHORITY}.service"));
    assert_eq!(doc["host_name"], host);
    assert_eq!(doc["secured"], true);
    assert_eq!(doc["authority"], AUTHORITY);
}

#[test]
fn json_errors_go_to_stdout_as_well_as_stderr() {
    let out = pnrp(["--json", "name", "to-host", "0.My Printer"])
        .run()
        .fails(2, &["whitespace"]);
    let doc = out.json();
    assert_eq!(doc["error"]["code"], 2);
    assert_eq!(doc["error"]["kind"], "bad_input");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        out.stderr.contains(message),
        "{message:?} vs {:?}",
        out.stderr
    );
}

// ------------------------------------------------------------- identities

#[test]
fn create_prints_an_authority_and_writes_a_private_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = pnrp(["identity", "create", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    assert_authority(out.line());
    let dir = tmp.path().join("identities");
    assert_eq!(mode_of(&dir), 0o700);
    assert_eq!(mode_of(&dir.join("work.key")), 0o600);
    assert_eq!(file_names(&dir), ["work.key"]);
}

#[test]
fn create_makes_a_missing_state_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("a").join("b");
    pnrp(["identity", "create", "work"])
        .state_dir(&state)
        .run()
        .success();
    assert!(state.join("identities/work.key").is_file());
}

#[test]
fn create_twice_exits_2_and_keeps_the_first_key() {
    let tmp = tempfile::tempdir().unwrap();
    let first = pnrp(["identity", "create", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    let key = tmp.path().join("identities/work.key");
    let before = fs::read(&key).unwrap();
    let out = pnrp(["identity", "create", "work"])
        .state_dir(tmp.path())
        .run()
        .fails(2, &["already exists", "work"]);
    assert_eq!(out.stdout, "");
    assert_eq!(fs::read(&key).unwrap(), before);
    let shown = pnrp(["--json", "identity", "show", "work"])
        .state_dir(tmp.path())
        .run()
        .success()
        .json();
    assert_eq!(shown["authority"], first.line());
    assert_eq!(file_names(&tmp.path().join("identities")), ["work.key"]);
}

#[test]
fn create_json_has_label_and_authority() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = pnrp(["--json", "identity", "create", "home"])
        .state_dir(tmp.path())
        .run()
        .success()
        .json();
    assert_eq!(doc["label"], "home");
    let authority = doc["authority"].as_str().unwrap();
    assert_authority(authority);
    assert_eq!(doc["peer_name_prefix"], format!("{authority}."));
}

#[test]
fn invalid_labels_exit_2_naming_the_rule_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let long = "a".repeat(65);
    let state_arg = state.to_str().unwrap();
    for label in ["../evil", "my key", &long, "-x", "é", ""] {
        let args = ["identity", "create", "--state-dir", state_arg, "--", label];
        TestCommand::new(args)
            .run()
            .fails(2, &["1 to 64 characters"]);
    }
    assert!(!state.exists(), "bad input left a state directory behind");
    // The label is checked before the daemon is looked for.
    let out = pnrp(["identity", "show", "a/b"])
        .env("PNRP_RUNTIME_DIR", tmp.path())
        .run()
        .fails(2, &["'/'"]);
    assert_eq!(out.stdout, "");
}

#[test]
fn show_prints_label_authority_public_key_and_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let created = pnrp(["identity", "create", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    let authority = created.line();
    let out = pnrp(["identity", "show", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert_eq!(lines[0], "label:            work");
    assert_eq!(lines[1], format!("authority:        {authority}"));
    assert!(lines[2].starts_with("public key:       0"), "{}", lines[2]);
    assert_eq!(lines[3], format!("peer name prefix: {authority}."));

    let doc = pnrp(["--json", "identity", "show", "work"])
        .state_dir(tmp.path())
        .run()
        .success()
        .json();
    assert_eq!(doc["label"], "work");
    assert_eq!(doc["authority"], authority);
    assert_eq!(doc["peer_name_prefix"], format!("{authority}."));
    let public_key = doc["public_key"].as_str().unwrap();
    assert_eq!(public_key.len(), 66);
    assert!(public_key.starts_with("02") || public_key.starts_with("03"));
}

#[test]
fn list_prints_one_sorted_line_per_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = pnrp(["identity", "list"])
        .state_dir(tmp.path())
        .run()
        .success();
    assert_eq!(empty.stdout, "");
    let doc = pnrp(["--json", "identity", "list"])
        .state_dir(tmp.path())
        .run()
        .success()
        .json();
    assert_eq!(doc, serde_json::json!([]));

    let mut expected = Vec::new();
    for label in ["zeta", "alpha", "Mid.dle_1"] {
        let out = pnrp(["identity", "create", label])
            .state_dir(tmp.path())
            .run()
            .success();
        expected.push(format!("{label} {}", out.line()));
    }
    expected.sort();
    let out = pnrp(["identity", "list"])
        .state_dir(tmp.path())
        .run()
        .success();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected);

    let doc = pnrp(["--json", "identity", "list"])
        .state_dir(tmp.path())
        .run()
        .success()
        .json();
    let items = doc.as_array().unwrap();
    assert_eq!(items.len(), 3);
    for (item, line) in items.iter().zip(&expected) {
        let (label, authority) = line.split_once(' ').unwrap();
        assert_eq!(item["label"], label);
        assert_eq!(item["authority"], authority);
        assert_eq!(item["public_key"].as_str().unwrap().len(), 66);
    }
}

#[test]
fn delete_removes_the_identity_and_unknown_labels_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    pnrp(["identity", "create", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    pnrp(["identity", "delete", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    assert!(file_names(&tmp.path().join("identities")).is_empty());
    pnrp(["identity", "show", "work"])
        .state_dir(tmp.path())
        .run()
        .fails(1, &["work"]);
    let out = pnrp(["--json", "identity", "delete", "work"])
        .state_dir(tmp.path())
        .run()
        .fails(1, &["no identity", "work"]);
    assert_eq!(out.json()["error"]["code"], 1);
    assert_eq!(out.json()["error"]["kind"], "not_found");
}

#[test]
fn delete_json_confirms_the_label() {
    let tmp = tempfile::tempdir().unwrap();
    pnrp(["identity", "create", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    let doc = pnrp(["--json", "identity", "delete", "work"])
        .state_dir(tmp.path())
        .run()
        .success()
        .json();
    assert_eq!(doc, serde_json::json!({"label": "work", "deleted": true}));
}

#[test]
fn show_refuses_a_key_file_readable_by_others() {
    let tmp = tempfile::tempdir().unwrap();
    pnrp(["identity", "create", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
    let key = tmp.path().join("identities/work.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let fix = format!("chmod 600 {}", key.display());
    pnrp(["identity", "show", "work"])
        .state_dir(tmp.path())
        .run()
        .fails(2, &["0644", "0600", &fix]);
    // list checks every key file too.
    pnrp(["identity", "list"])
        .state_dir(tmp.path())
        .run()
        .fails(2, &[&fix]);
    // After the fix it loads again.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    pnrp(["identity", "show", "work"])
        .state_dir(tmp.path())
        .run()
        .success();
}

#[test]
fn show_reports_a_corrupt_key_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("identities");
    fs::create_dir_all(&dir).unwrap();
    let key = dir.join("work.key");
    fs::write(&key, "not a key\n").unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    pnrp(["identity", "show", "work"])
        .state_dir(tmp.path())
        .run()
        .fails(2, &["work.key", "pnrp-identity v1"]);
}

#[test]
fn identity_without_state_dir_and_no_daemon_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("control.sock");
    let runtime_dir = tmp.path().to_str().unwrap();
    for args in [
        ["identity", "list", "", ""],
        ["identity", "create", "work", ""],
        ["identity", "show", "work", ""],
        ["identity", "delete", "work", ""],
    ] {
        let args = args.into_iter().filter(|a| !a.is_empty());
        let out = TestCommand::new(args.chain(["--runtime-dir", runtime_dir]))
            .run()
            .fails(
                3,
                &[
                    "pnrpd is not reachable",
                    &socket.display().to_string(),
                    "--state-dir",
                ],
            );
        assert_eq!(out.stdout, "");
    }
    assert_eq!(file_names(tmp.path()), Vec::<String>::new());
}

#[test]
fn identity_uses_pnrp_runtime_dir_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("control.sock");
    let out = pnrp(["--json", "identity", "list"])
        .env("PNRP_RUNTIME_DIR", tmp.path())
        .run()
        .fails(3, &[&socket.display().to_string()]);
    assert_eq!(out.json()["error"]["kind"], "daemon_unreachable");
}

#[test]
fn a_socket_that_answers_garbage_is_an_unreachable_daemon() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("control.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            use std::io::Read as _;
            let mut request = [0u8; 8];
            let _ = s.read_exact(&mut request);
            let _ = s.write_all(b"\xff\xff\xff\xffgarbage");
        }
    });
    pnrp([
        "identity",
        "list",
        "--runtime-dir",
        tmp.path().to_str().unwrap(),
    ])
    .run()
    .fails(3, &["talking to pnrpd", "frame length"]);
    server.join().unwrap();
}

#[test]
fn completions_and_man_page_come_from_the_clap_definitions() {
    let out = pnrp(["completions", "bash"]).run();
    assert!(out.stdout.contains("_pnrp()"), "{}", out.stdout);
    assert!(out.stdout.contains("register"));
    let out = pnrp(["man"]).run();
    assert!(out.stdout.contains(".TH pnrp 1"));
    assert!(out.stdout.contains("resolve"));
}

#[test]
fn nss_install_and_uninstall_edit_a_copy_safely_and_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("nsswitch.conf");
    let libdir = tmp.path().join("lib");
    fs::create_dir_all(&libdir).unwrap();
    let module = tmp.path().join("libnss_pnrp.so");
    fs::write(&module, b"\x7fELF fake module bytes").unwrap();
    let original = "passwd: files\nhosts: files dns\n";
    fs::write(&conf, original).unwrap();
    let args = |cmd: &str| {
        let mut v = vec![
            "nss".to_string(),
            cmd.to_string(),
            "--nsswitch".into(),
            conf.display().to_string(),
            "--libdir".into(),
            libdir.display().to_string(),
        ];
        if cmd == "install" {
            v.extend(["--module".into(), module.display().to_string()]);
        }
        v
    };
    TestCommand::new(args("install")).run().code(0);
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        "passwd: files\nhosts: files pnrp [NOTFOUND=return] dns\n"
    );
    assert!(libdir.join("libnss_pnrp.so.2").exists());
    let backup = tmp.path().join("nsswitch.conf.pnrp-backup");
    assert_eq!(fs::read_to_string(&backup).unwrap(), original);
    // Idempotent.
    let out = TestCommand::new(args("install")).run().code(0);
    assert!(out.stdout.contains("already so"), "{}", out.stdout);
    TestCommand::new(args("uninstall")).run().code(0);
    assert_eq!(fs::read_to_string(&conf).unwrap(), original);
    assert!(!libdir.join("libnss_pnrp.so.2").exists());
    TestCommand::new(args("uninstall")).run().code(0);
    // A file it does not understand is left alone.
    fs::write(&conf, "passwd: files\n").unwrap();
    TestCommand::new(args("install"))
        .run()
        .fails(2, &["no `hosts:` line"]);
    assert_eq!(fs::read_to_string(&conf).unwrap(), "passwd: files\n");
    assert!(
        !libdir.join("libnss_pnrp.so.2").exists(),
        "nothing installed on refusal"
    );
}
