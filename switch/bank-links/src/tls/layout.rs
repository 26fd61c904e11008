//! Where `switch gen-certs` puts its files, so that each party can be handed a
//! folder holding only what it needs:
//!
//! ```text
//! DIR/ca/ca.key             the CA's private key: stays with whoever issues certificates
//! DIR/ca/ca.crt, ca.crl     the CA certificate and its revocation list (the originals)
//! DIR/switch/               the switch's bundle: switch.key, switch.crt, ca.crt, ca.crl
//! DIR/banks/BANK/           bank BANK's bundle: BANK.key, BANK.crt, ca.crt, ca.crl
//! DIR/apps/APP/             payment app APP's bundle (its token API): APP.key, APP.crt, ca.crt, ca.crl
//! DIR/test-certs/           with --test-certs: KIND.crt and KIND.key (expired, revoked, unknown-ca)
//! ```
//!
//! A bundle is what one party presents and trusts: its key, its certificate, and a
//! copy of the CA certificate and CRL. `--tls-dir` takes either the whole
//! directory or one bundle folder ([`Bundle::for_switch`], [`Bundle::for_bank`]).

use std::path::{Path, PathBuf};

/// The folder of the CA's own files.
const CA_FOLDER: &str = "ca";
/// The folder of the switch's bundle.
const SWITCH_FOLDER: &str = "switch";
/// The folder holding one bundle folder per bank.
const BANKS_FOLDER: &str = "banks";
/// The folder holding one bundle folder per payment app.
const APPS_FOLDER: &str = "apps";
/// The folder of the certificates the TLS tests refuse.
const TEST_FOLDER: &str = "test-certs";
/// A bundle's copy of the CA certificate, and the CA folder's original.
const CA_CERT: &str = "ca.crt";
/// The same for the CRL.
const CRL: &str = "ca.crl";

/// The files of a generated directory.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The directory.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout under `dir`.
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    /// The folder of the CA's key, certificate and CRL.
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.join(CA_FOLDER)
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.ca_dir().join(CA_CERT)
    }

    /// The CA's private key.
    pub fn ca_key(&self) -> PathBuf {
        self.ca_dir().join("ca.key")
    }

    /// The CA's revocation list.
    pub fn crl(&self) -> PathBuf {
        self.ca_dir().join(CRL)
    }

    /// The switch's bundle.
    pub fn switch(&self) -> Bundle {
        Bundle::new(self.dir.join(SWITCH_FOLDER), "switch")
    }

    /// Bank `bank`'s bundle.
    pub fn bank(&self, bank: &str) -> Bundle {
        Bundle::new(self.dir.join(BANKS_FOLDER).join(bank), bank)
    }

    /// Payment app `app`'s bundle (for its token API).
    pub fn app(&self, app: &str) -> Bundle {
        Bundle::new(self.dir.join(APPS_FOLDER).join(app), app)
    }

    /// The folder of the test certificates.
    pub fn test_dir(&self) -> PathBuf {
        self.dir.join(TEST_FOLDER)
    }

    /// A test certificate (`expired`, `revoked`, `unknown-ca`) and its key.
    pub fn test_pair(&self, kind: &str) -> (PathBuf, PathBuf) {
        let dir = self.test_dir();
        (
            dir.join(format!("{kind}.crt")),
            dir.join(format!("{kind}.key")),
        )
    }
}

/// One party's folder: its private key, its certificate, the CA certificate and
/// the CRL, and nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The folder.
    pub dir: PathBuf,
    /// The files' stem: `switch` or the bank's id.
    name: String,
}

impl Bundle {
    fn new(dir: PathBuf, name: &str) -> Bundle {
        Bundle {
            dir,
            name: name.to_string(),
        }
    }

    /// The switch's bundle from a `--tls-dir`: a gen-certs directory (its `switch/`
    /// folder is used) or the switch's bundle folder itself.
    pub fn for_switch(tls_dir: &Path) -> Bundle {
        let whole = Layout::new(tls_dir).switch();
        if whole.dir.is_dir() {
            whole
        } else {
            Bundle::new(tls_dir.to_path_buf(), &whole.name)
        }
    }

    /// Bank `bank`'s bundle from a `--tls-dir`: a gen-certs directory (its
    /// `banks/BANK/` folder is used) or the bank's bundle folder itself.
    pub fn for_bank(tls_dir: &Path, bank: &str) -> Bundle {
        let whole = Layout::new(tls_dir).bank(bank);
        if whole.dir.is_dir() {
            whole
        } else {
            Bundle::new(tls_dir.to_path_buf(), bank)
        }
    }

    /// App `app`'s bundle from a `--tls-dir`: a gen-certs directory (its
    /// `apps/APP/` folder is used) or the app's bundle folder itself.
    pub fn for_app(tls_dir: &Path, app: &str) -> Bundle {
        let whole = Layout::new(tls_dir).app(app);
        if whole.dir.is_dir() {
            whole
        } else {
            Bundle::new(tls_dir.to_path_buf(), app)
        }
    }

    /// The party's private key.
    pub fn key(&self) -> PathBuf {
        self.dir.join(format!("{}.key", self.name))
    }

    /// The party's certificate.
    pub fn cert(&self) -> PathBuf {
        self.dir.join(format!("{}.crt", self.name))
    }

    /// The CA certificate (a copy of the CA folder's).
    pub fn ca(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// The CRL (a copy of the CA folder's).
    pub fn crl(&self) -> PathBuf {
        self.dir.join(CRL)
    }

    /// Every file of the bundle: key, certificate, CA certificate, CRL.
    pub fn files(&self) -> [PathBuf; 4] {
        [self.key(), self.cert(), self.ca(), self.crl()]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_tls_dir_is_the_whole_directory_or_one_bundle() {
        let dir = std::env::temp_dir().join(format!("tls-layout-{}", std::process::id()));
        let layout = Layout::new(&dir);
        std::fs::create_dir_all(layout.bank("940810").dir).unwrap();
        std::fs::create_dir_all(layout.switch().dir).unwrap();
        assert_eq!(Bundle::for_bank(&dir, "940810"), layout.bank("940810"));
        assert_eq!(Bundle::for_switch(&dir), layout.switch());
        // Handed only its folder, a bank finds its files there.
        let folder = layout.bank("940810").dir;
        let bundle = Bundle::for_bank(&folder, "940810");
        assert_eq!(bundle.key(), folder.join("940810.key"));
        assert_eq!(bundle.ca(), folder.join("ca.crt"));
        let switch = Bundle::for_switch(&layout.switch().dir);
        assert_eq!(switch.cert(), dir.join("switch").join("switch.crt"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
