//! The command line as an operator meets it: `--help`, `--check`, examples.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bigstep");

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().expect("run bigstep");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_example_config_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("examples/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (ok, text) = run(&["balance", "--check", path.to_str().unwrap()]);
            assert!(ok, "{}: {text}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 2, "examples/ should hold the documented configs");
}

#[test]
fn check_names_the_bad_key_and_line() {
    let dir = std::env::temp_dir().join(format!("bigstep-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[balance]\nlisten = \"127.0.0.1:8080\"\nretries = 3\n",
    )
    .unwrap();
    let (ok, text) = run(&["balance", "--check", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("retries") && text.contains("line 3"),
        "{text}"
    );

    std::fs::write(&path, "[balance.timeouts]\nconnect = \"soon\"\n").unwrap();
    let (ok, text) = run(&["balance", "--check", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("connect") && text.contains("line 2"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_reads_like_a_product() {
    let (ok, text) = run(&["--help"]);
    assert!(ok);
    for word in ["up", "balance", "state", "files", "bigstep up"] {
        assert!(text.contains(word), "{text}");
    }
    let (ok, text) = run(&["balance", "--help"]);
    assert!(
        ok && text.contains("--check") && text.contains("Examples"),
        "{text}"
    );
}

#[test]
fn balance_without_servers_says_what_to_do() {
    let (ok, text) = run(&["balance", "--listen", "127.0.0.1:0"]);
    assert!(!ok);
    assert!(
        text.contains("--server") && text.contains("[[balance.servers]]"),
        "{text}"
    );
}
