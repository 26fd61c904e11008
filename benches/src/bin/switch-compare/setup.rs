//! How a switch run is set up and what it leaves behind: the benchmark's switch
//! configuration ([`bench_shape`]), its links' transport ([`SwitchSetup`], with
//! the run's certificates in [`Certs`]), a journal database per run
//! ([`TempJournal`]), the load of a mode ([`load_of`]) and free loopback ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use benches::loopback::{
    national_rules, parse_config, switch_config, Load, SwitchShape, ACQUIRER_BANK, ISSUER_BANK,
};
use simulators::tls::{HostTls, TlsOptions};
use switch::tls::generate::{generate, CertPlan};

use crate::args::{Mode, Options};
use crate::channel::CHANNEL_MIX;
use crate::stand_in::STAND_IN_MIX;
use crate::store::StoreSetup;
/// How the switch of one run is set up: its links' transport, its journal and
/// vault, what the acquirer pays with and whether the issuer is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchSetup {
    /// Mutual TLS on every link (certificates from a [`Certs`] directory).
    pub tls: bool,
    /// MACs on every link (random keys for the run, no PIN blocks).
    pub mac: bool,
    /// none, relaxed or strict.
    pub journal: &'static str,
    /// The acquirer's requests.
    pub payments: Payments,
    /// The vault's key-encryption key given to the switch (with a journal,
    /// stand-in needs it: see `--compare stand-in`).
    pub kek: bool,
    /// The issuer host taken down once the switch has signed on, before the
    /// load: the switch stands in for it.
    pub issuer_down: bool,
    /// `--compare store`: the strict journal's database and the nodes, each
    /// switch in a process of its own (None: the other compares' way).
    pub store: Option<StoreSetup>,
}

/// What the acquirer sends through the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payments {
    /// The default mix of card transactions on the national rules.
    DefaultMix,
    /// `--compare channel`: card purchases only, on the national rules with
    /// the app purchase limit raised (see [`crate::channel`]).
    CardPurchases,
    /// `--compare channel`: purchases by QR with tokens, enrolled for the run
    /// through a token API listener of the switch, on the same rules.
    QrPurchases,
    /// `--compare stand-in`: card purchases and cash (no balance inquiries), on
    /// the national rules with the stand-in daily limits raised (see
    /// [`crate::stand_in`]).
    PurchasesAndCash,
}

impl Payments {
    /// The acquirer's transaction mix, when not its default.
    pub fn mix(self) -> Option<&'static str> {
        match self {
            Payments::DefaultMix => None,
            Payments::CardPurchases | Payments::QrPurchases => Some(CHANNEL_MIX),
            Payments::PurchasesAndCash => Some(STAND_IN_MIX),
        }
    }
}

impl SwitchSetup {
    /// Plain TCP, no MACs, the default mix: the switch of relay vs switch.
    pub fn plain(journal: &'static str) -> SwitchSetup {
        SwitchSetup {
            tls: false,
            mac: false,
            journal,
            payments: Payments::DefaultMix,
            kek: false,
            issuer_down: false,
            store: None,
        }
    }
}

/// The run's certificates (`switch gen-certs` for the benchmark's banks) in a
/// temporary directory removed on drop, and the two hosts' sides of them.
pub struct Certs {
    pub dir: PathBuf,
    pub issuer: Option<Arc<HostTls>>,
    pub acquirer: Option<Arc<HostTls>>,
}

impl Certs {
    pub fn generate() -> Result<Certs, String> {
        let dir = std::env::temp_dir().join(format!("switch-compare-certs-{}", std::process::id()));
        let mut certs = Certs {
            dir,
            issuer: None,
            acquirer: None,
        };
        let config = parse_config(&switch_config(&bench_shape(loopback_any()?, None)?))?;
        generate(&certs.dir, &CertPlan::from_config(&config)).map_err(|e| e.to_string())?;
        let host = |bank: &str| {
            TlsOptions {
                tls_dir: Some(certs.dir.clone()),
                ..Default::default()
            }
            .load(bank)
        };
        let issuer = host(ISSUER_BANK).map_err(|e| e.to_string())?;
        let acquirer = host(ACQUIRER_BANK).map_err(|e| e.to_string())?;
        certs.issuer = issuer;
        certs.acquirer = acquirer;
        Ok(certs)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The throughput runs' switch configuration: one acquirer listener, one issuer
/// link dialing `issuer` (a placeholder until the issuer is up).
pub fn bench_shape(
    issuer: SocketAddr,
    journal: Option<(PathBuf, &'static str)>,
) -> Result<SwitchShape, String> {
    Ok(SwitchShape {
        acquirer_listen: loopback_any()?,
        issuer,
        max_in_flight: 10_000,
        timeout_ms: 10_000,
        echo_interval_secs: 30,
        journal,
    })
}

/// A copy of the national rules edited for a compare's runs (`--compare
/// channel`, `--compare stand-in`), in the temporary directory; removed on drop.
pub struct RulesCopy {
    pub path: PathBuf,
}

impl RulesCopy {
    /// The national rules through `edit`, written as
    /// `switch-compare-{name}-{pid}.toml`.
    pub fn write(
        name: &str,
        edit: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<RulesCopy, String> {
        let national = national_rules();
        let text = std::fs::read_to_string(&national)
            .map_err(|e| format!("{}: {e}", national.display()))?;
        let dir = national
            .parent()
            .ok_or("the national rules have no directory")?;
        let text = anchor_paths(&edit(&text)?, dir);
        let path =
            std::env::temp_dir().join(format!("switch-compare-{name}-{}.toml", std::process::id()));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(RulesCopy { path })
    }
}

/// `rules` with every relative `path = "..."` (a negative file's, relative to
/// the rules file that names it) made absolute under `dir`, so that the copy
/// in the temporary directory names the same files.
fn anchor_paths(rules: &str, dir: &Path) -> String {
    let mut out = String::with_capacity(rules.len() + 256);
    for line in rules.lines() {
        let relative = line
            .split_once('=')
            .filter(|(key, _)| key.trim() == "path")
            .and_then(|(_, value)| value.trim().strip_prefix('"')?.strip_suffix('"'))
            .filter(|p| Path::new(p).is_relative());
        match relative {
            Some(p) => {
                let absolute = dir.join(p).display().to_string().replace('\\', "/");
                out.push_str(&format!("path = \"{absolute}\""));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

impl Drop for RulesCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A journal database of its own for one switch run (none for `--journal none`),
/// removed with its WAL files when dropped.
pub struct TempJournal {
    path: Option<PathBuf>,
    durability: &'static str,
}

impl TempJournal {
    pub fn new(durability: &'static str) -> TempJournal {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let path = (durability != "none").then(|| {
            let n = RUNS.fetch_add(1, Ordering::Relaxed);
            std::env::temp_dir().join(format!("switch-compare-{}-{n}.db", std::process::id()))
        });
        TempJournal { path, durability }
    }

    pub fn config(&self) -> Option<(PathBuf, &'static str)> {
        self.path.clone().map(|p| (p, self.durability))
    }
}

impl Drop for TempJournal {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

pub fn loopback_any() -> Result<SocketAddr, String> {
    "127.0.0.1:0".parse().map_err(|e| format!("{e}"))
}

/// The load of a throughput mode.
pub fn load_of(mode: Mode, o: &Options) -> Load {
    match mode {
        Mode::Rate10k => Load::Rate {
            connections: o.connections,
            tps: o.rate,
        },
        _ => Load::Closed {
            connections: o.connections,
        },
    }
}

/// A free loopback port for the child's acquirer listener (bound, read, released).
pub fn free_port() -> Result<SocketAddr, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy in the temporary directory names the files of the original's.
    #[test]
    fn relative_paths_are_anchored_to_the_rules_directory() {
        let text = "[[negative_file]]\nissuer = \"940810\"\npath = \"negative/940810.toml\"\n\
                    [[negative_file]]\npath = \"/abs/file.toml\"\nname = \"path\"\n";
        let anchored = anchor_paths(text, Path::new("/rules"));
        assert_eq!(
            anchored,
            "[[negative_file]]\nissuer = \"940810\"\npath = \"/rules/negative/940810.toml\"\n\
             [[negative_file]]\npath = \"/abs/file.toml\"\nname = \"path\"\n"
        );
    }
}
