//! `switch gen-certs` keeps the CA's private key apart and gives each party a
//! folder with only what it needs: after a run on the national configuration, the
//! CA's key is in `ca/` only, every other private key is the switch's own or a
//! bank's own, in its bundle, and each bundle holds exactly its key, its
//! certificate, the CA certificate and the CRL, and loads as it is handed out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use switch::config::Config;
use switch::tls::generate::CertPlan;
use switch::tls::layout::Layout;

const NATIONAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/national.toml");

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The names of the entries of `dir`.
fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn the_ca_key_stays_apart_and_each_bank_gets_only_its_bundle() {
    let dir = std::env::temp_dir().join(format!("gen-certs-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_switch"))
        .args(["gen-certs", dir.to_str().unwrap(), "--config", NATIONAL])
        .output()
        .expect("switch runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layout = Layout::new(&dir);
    let plan = CertPlan::from_config(&Config::load_without_tls_files(Path::new(NATIONAL)).unwrap());
    assert!(plan.banks.len() >= 5, "the national network's banks");

    // The top level: the CA's folder, the switch's bundle, the banks' and the
    // payment apps' bundles.
    assert_eq!(names_in(&dir), set(&["apps", "banks", "ca", "switch"]));
    let apps: Vec<&String> = plan.apps.keys().collect();
    assert_eq!(apps.len(), 3, "the national network's apps");
    assert_eq!(
        names_in(&dir.join("apps")),
        apps.iter().map(|a| a.to_string()).collect()
    );
    for app in &apps {
        let key = format!("{app}.key");
        let cert = format!("{app}.crt");
        assert_eq!(
            names_in(&layout.app(app).dir),
            set(&[&key, &cert, "ca.crt", "ca.crl"]),
            "app {app}'s bundle"
        );
    }
    assert_eq!(
        names_in(&layout.ca_dir()),
        set(&["ca.crl", "ca.crt", "ca.key"])
    );
    assert_eq!(
        names_in(&layout.switch().dir),
        set(&["ca.crl", "ca.crt", "switch.crt", "switch.key"])
    );
    let banks: Vec<&String> = plan.banks.keys().collect();
    assert_eq!(
        names_in(&dir.join("banks")),
        banks.iter().map(|b| b.to_string()).collect()
    );
    for bank in &banks {
        let key = format!("{bank}.key");
        let cert = format!("{bank}.crt");
        assert_eq!(
            names_in(&layout.bank(bank).dir),
            set(&[&key, &cert, "ca.crt", "ca.crl"]),
            "bank {bank}'s bundle"
        );
    }

    // Private keys: the CA's in its folder, otherwise each party's own in its bundle.
    let mut allowed: BTreeSet<PathBuf> = banks.iter().map(|b| layout.bank(b).key()).collect();
    allowed.extend(apps.iter().map(|a| layout.app(a).key()));
    allowed.insert(layout.switch().key());
    allowed.insert(layout.ca_key());
    let ca_key = std::fs::read_to_string(layout.ca_key()).unwrap();
    let ca_key_line = ca_key.lines().nth(1).expect("a PEM body");
    for file in files_under(&dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("PRIVATE KEY") {
            assert!(
                allowed.contains(&file),
                "a private key in {}",
                file.display()
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&file).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", file.display());
            }
        }
        if file != layout.ca_key() {
            assert!(
                !text.contains(ca_key_line),
                "the CA key in {}",
                file.display()
            );
        }
    }
    assert!(
        stdout.contains(&layout.ca_key().display().to_string()),
        "{stdout}"
    );

    // Each bundle works on its own: a bank's key matches its certificate, which
    // names the bank, and the switch runs with its bundle (DIR or DIR/switch).
    for bank in &banks {
        let bundle = layout.bank(bank).dir;
        simulators::tls::TlsOptions {
            tls_dir: Some(bundle.clone()),
            ..Default::default()
        }
        .load(bank)
        .unwrap_or_else(|e| panic!("bank {bank}'s bundle: {e}"))
        .expect("TLS on");
        let der = switch::tls::files::certificates(&layout.bank(bank).cert()).unwrap();
        let names = switch::tls::identity::certificate_names(&der[0]).unwrap();
        assert_eq!(names, plan.banks[*bank], "bank {bank}'s certificate");
    }
    for tls_dir in [dir.clone(), layout.switch().dir] {
        let mut config = Config::load(Path::new(NATIONAL)).unwrap();
        switch::tls::apply::use_generated(&mut config, &tls_dir)
            .unwrap_or_else(|e| panic!("--tls-dir {}: {e}", tls_dir.display()));
    }
    // A folder handed to the wrong party is refused with what to give instead.
    let (a, b) = (banks[0], banks[1]);
    let e = simulators::tls::TlsOptions {
        tls_dir: Some(layout.bank(a).dir),
        ..Default::default()
    }
    .load(b)
    .unwrap_err();
    assert!(e.to_string().contains(&format!("DIR/banks/{b}")), "{e}");
    let mut config = Config::load(Path::new(NATIONAL)).unwrap();
    let e = switch::tls::apply::use_generated(&mut config, &layout.bank(a).dir).unwrap_err();
    assert!(e.to_string().contains("no switch bundle"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
