//! `switch`: the interbank card switch.
//!
//! - `switch check-config --config PATH`: validate a configuration and its rules;
//! - `switch run --config PATH`: run the switch until SIGINT/SIGTERM;
//! - `switch settle --config PATH [--date YYYY-MM-DD] [--format table|csv|json]`:
//!   the interbank settlement of a business day from the journal;
//! - `switch cutover --config PATH`: close the current business day now;
//! - `switch gen-certs DIR [--config PATH] [--test-certs]`: a test CA, the switch's
//!   certificate and one per bank of the configuration, and a CRL, for mutual TLS:
//!   the CA's key apart in DIR/ca, a bundle per party (DIR/switch, DIR/banks/BANK);
//! - `switch wrap-key [--kek-env NAME] < key.hex`: a MAC or PIN key wrapped under
//!   the KEK, for `mac_key = { wrapped = ... }` in the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switch::config::Config;
use switch::net::{RunningSwitch, SwitchOptions};

#[derive(Parser)]
#[command(name = "switch", version, about = "The interbank card switch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switch until SIGINT/SIGTERM (drains gracefully); SIGHUP reloads the rules.
    Run {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Run every link over mutual TLS with the switch's bundle from `gen-certs`:
        /// DIR is the gen-certs directory (its switch/ folder is used) or that folder.
        #[arg(long, value_name = "DIR")]
        tls_dir: Option<PathBuf>,
    },
    /// Validate a configuration file and the routing rules it names.
    CheckConfig {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Interbank settlement of a business day from the journal.
    ///
    /// Without --date it settles the last closed business day (the one before the
    /// open one) and says so on standard error, with the open day; when the day
    /// has nothing to settle it says that too, and how to settle the open day:
    /// close it with `switch cutover`, or settle it so far with --date. The report
    /// goes to standard output; an empty day exits 0 like any other.
    Settle {
        /// The configuration file (its [journal] names the database).
        #[arg(long)]
        config: PathBuf,
        /// The business day, YYYY-MM-DD (default: the last closed one).
        #[arg(long)]
        date: Option<String>,
        /// table, csv or json.
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Close the current business day now (the running switch picks it up within a second).
    Cutover {
        /// The configuration file (its [journal] names the database).
        #[arg(long)]
        config: PathBuf,
    },
    /// Generate a test CA, the switch's certificate, one certificate per bank of the
    /// configuration (with the identities its links name) and a CRL. For tests and
    /// demos only.
    ///
    /// Each party gets a folder with only what it needs (its key, its certificate,
    /// the CA certificate, the CRL); the CA's key stays in a folder of its own:
    ///
    ///   DIR/ca/            ca.key, ca.crt, ca.crl    keep: never hand out ca.key
    ///   DIR/switch/        switch.key, switch.crt, ca.crt, ca.crl
    ///   DIR/banks/BANK/    BANK.key, BANK.crt, ca.crt, ca.crl    hand to bank BANK
    ///   DIR/test-certs/    with --test-certs: expired, revoked, unknown-ca (.crt, .key)
    ///
    /// Private keys are written 0600, DIR/ca/ is 0700. `switch run --tls-dir` takes
    /// DIR or DIR/switch; `sim ... --tls-dir` takes DIR/banks/BANK (or DIR).
    #[command(verbatim_doc_comment)]
    GenCerts {
        /// Where to write the files (created if needed).
        dir: PathBuf,
        /// The configuration whose banks get certificates.
        #[arg(long, default_value = "switch/config/national.toml")]
        config: PathBuf,
        /// Also an expired, a revoked (listed in the CRL) and an unknown-CA
        /// certificate for the configuration's first bank.
        #[arg(long)]
        test_certs: bool,
    },
    /// Wrap a key (hex, one line on standard input) under the key-encryption key
    /// (AES key wrap, RFC 3394) and print it with its check value, for a link's
    /// `mac_key` or `pin_key = { wrapped = "..." }`.
    WrapKey {
        /// The environment variable holding the KEK (hex AES key: 16, 24 or 32 bytes).
        #[arg(long, default_value = switch::security::kek::DEFAULT_KEK_ENV)]
        kek_env: String,
    },
}

/// `switch wrap-key`: the key comes on standard input (not the command line,
/// which other users of the machine can see).
fn wrap_key(kek_env: &str) -> ExitCode {
    use switch::security::{kek, KeyMaterial};
    let kek = match kek::kek_from_env(kek_env) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("switch wrap-key: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut line = zeroize::Zeroizing::new(String::new());
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("switch wrap-key: cannot read the key from standard input: {e}");
        return ExitCode::FAILURE;
    }
    let key = match KeyMaterial::from_hex(line.trim()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("switch wrap-key: {e}");
            return ExitCode::FAILURE;
        }
    };
    match kek::wrap(&kek, &key) {
        Ok(wrapped) => {
            println!("{{ wrapped = \"{wrapped}\" }}");
            if let Some(kcv) = key.check_value() {
                eprintln!("key check value (TDES): {kcv}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switch wrap-key: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line per link that authenticates messages or translates PIN blocks.
fn print_security(config: &Config) {
    for link in &config.links {
        let keys = config.security.keys.get(&link.name);
        let kcv = |k: Option<&switch::security::KeyMaterial>| {
            k.and_then(|k| k.check_value())
                .map_or(String::new(), |v| format!(", key check value {v}"))
        };
        if let Some(padding) = link.security.mac {
            println!(
                "link {}: MAC (ISO 9797-1 algorithm 3, padding method {}{})",
                link.name,
                padding.number(),
                kcv(keys.and_then(|k| k.mac.as_ref()))
            );
        }
        if let Some(format) = link.security.pin {
            println!(
                "link {}: PIN blocks {}{}",
                link.name,
                format.name(),
                kcv(keys.and_then(|k| k.pin.as_ref()))
            );
        }
    }
}

/// The configuration's warnings (deprecated key names, a secret this
/// environment lacks) on standard error, where a report on standard output
/// stays machine-readable.
fn warn_on_stderr(config: Config) -> Config {
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    config
}

/// `switch gen-certs` in a build without certificate generation.
#[cfg(not(feature = "gen-certs"))]
fn gen_certs(_dir: &std::path::Path, _config: &std::path::Path, _test_certs: bool) -> ExitCode {
    eprintln!("error: this switch was built without the gen-certs feature (cargo build -p switch --features gen-certs)");
    ExitCode::FAILURE
}

/// `switch gen-certs`.
#[cfg(feature = "gen-certs")]
fn gen_certs(dir: &std::path::Path, config: &std::path::Path, test_certs: bool) -> ExitCode {
    use switch::tls::generate::{generate, CertPlan};
    let config = match Config::load_without_tls_files(config) {
        Ok(c) => warn_on_stderr(c),
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let mut plan = CertPlan::from_config(&config);
    if test_certs {
        plan.test_bank = plan.banks.keys().next().cloned();
    }
    match generate(dir, &plan) {
        Ok(files) => {
            for f in &files {
                println!("wrote {}", f.display());
            }
            let layout = switch::tls::layout::Layout::new(dir);
            println!(
                "CA key: {} (keep it here: it signs certificates and CRLs; never hand it out)",
                layout.ca_key().display()
            );
            println!(
                "switch identity: {} (bundle {})",
                plan.switch_identity,
                layout.switch().dir.display()
            );
            for (bank, identities) in &plan.banks {
                println!(
                    "bank {bank}: {} (bundle {})",
                    identities.join(", "),
                    layout.bank(bank).dir.display()
                );
            }
            if let Some(bank) = &plan.test_bank {
                println!(
                    "test certificates (expired, revoked, unknown CA) for bank {bank} in {}",
                    layout.test_dir().display()
                );
            }
            for stale in switch::tls::generate::stale_keys(dir) {
                eprintln!(
                    "warning: {} is a private key left by an older gen-certs (which wrote every key here): delete it",
                    stale.display()
                );
            }
            println!(
                "run with: switch run --config {} --tls-dir {}",
                config.path.display(),
                layout.switch().dir.display()
            );
            println!(
                "a bank host: sim ... --bank BANK --tls-dir {}",
                layout.bank("BANK").dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switch gen-certs: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration a store command reads (its warnings on standard error),
/// or the exit code after its errors were printed.
fn load_for_command(path: &std::path::Path) -> Result<Config, ExitCode> {
    match Config::load(path) {
        Ok(c) => Ok(warn_on_stderr(c)),
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            Err(ExitCode::FAILURE)
        }
    }
}

/// `switch settle`.
fn settle(config: &std::path::Path, date: Option<&str>, format: &str) -> ExitCode {
    use switch::store::commands::{settlement, Format};
    let Some(format) = Format::from_name(format) else {
        eprintln!("switch settle: --format {format:?} (expected table, csv or json)");
        return ExitCode::from(2);
    };
    let config = match load_for_command(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match settlement(&config, date) {
        Ok(report) => {
            let s = &report.settlement;
            match format {
                Format::Table => print!("{}", s.to_table()),
                Format::Csv => print!("{}", s.to_csv()),
                Format::Json => println!("{}", s.to_json()),
            }
            // Which day, and what to do when it is empty or still open: on
            // standard error, so that a CSV or JSON report stays machine-readable.
            // An empty day is not an error (exit 0): it is a day without traffic.
            eprint!("{}", report.notice(&config.path.display().to_string()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switch settle: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `switch cutover`.
fn cutover(config: &std::path::Path) -> ExitCode {
    let config = match load_for_command(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match switch::store::commands::request_cutover(&config) {
        Ok(()) => {
            println!("cutover requested");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switch cutover: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `check-config`: which node of a cluster this configuration makes (or that
/// it is a single node).
fn print_node(c: &Config) {
    match &c.cluster {
        Some(n) => println!(
            "node: {} (slot {}, lease {} ms)",
            n.node,
            n.slot,
            n.lease.as_millis()
        ),
        None => println!("node: single (no [cluster])"),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config, tls_dir } => run(&config, tls_dir.as_deref()),
        Command::GenCerts {
            dir,
            config,
            test_certs,
        } => gen_certs(&dir, &config, test_certs),
        Command::Settle {
            config,
            date,
            format,
        } => settle(&config, date.as_deref(), &format),
        Command::Cutover { config } => cutover(&config),
        Command::WrapKey { kek_env } => wrap_key(&kek_env),
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(c) => match routing_rules::RoutingTable::load(&c.rules) {
                Ok((t, warnings)) => {
                    for w in &warnings {
                        println!("warning: {w}");
                    }
                    let token_problems =
                        switch::config::token_api::problems_with_rules(&c.token_apis, &t);
                    if !token_problems.is_empty() {
                        for p in &token_problems {
                            println!("error: {p}");
                        }
                        return ExitCode::FAILURE;
                    }
                    if !c.token_apis.is_empty() && c.journal.is_some() {
                        if let Err(e) = switch::store::vault::kek_from_config(&c.security) {
                            println!("warning: {e}: `switch run` does not start without it (the token vault)");
                        }
                    }
                    let stand_in = t.stand_in_entries().len();
                    if let (true, true, Some(journal)) =
                        (stand_in > 0, c.stand_in.enabled, c.journal.as_ref())
                    {
                        if let Err(e) = switch::store::vault::kek_from_config(&c.security) {
                            println!("warning: {e}: stand-in stays off without it (its advices carry the card, sealed under the vault's key); issuers that cannot answer are declined 91");
                        }
                        if journal.durability == switch::config::Durability::Relaxed {
                            println!("warning: [journal] durability = \"relaxed\": a stand-in decision is answered before its record and advice are durable; a crash can lose the last batch of them (the issuer never told, the card's limits not counting them)");
                        }
                    }
                    if let Some(journal) = &c.journal {
                        println!("journal: {}", journal.backend());
                    }
                    print_security(&c);
                    print_node(&c);
                    // Deprecated key names; a journal key `switch run` will
                    // refuse to start without.
                    for w in &c.warnings {
                        println!("warning: {w}");
                    }
                    println!(
                        "ok: {} links, {} token APIs; rules {}: {} banks, {} apps, {} BIN ranges, {} rules, {} stand-in entries, {} negative files",
                        c.links.len(),
                        c.token_apis.len(),
                        c.rules.display(),
                        t.banks().len(),
                        t.apps().len(),
                        t.bins().ranges().len(),
                        t.rules().len(),
                        stand_in,
                        t.negative_files().len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    for p in &e.0.errors {
                        println!("error: {p}");
                    }
                    ExitCode::FAILURE
                }
            },
            Err(errors) => {
                for e in &errors {
                    println!("error: {e}");
                }
                ExitCode::FAILURE
            }
        },
    }
}

fn run(path: &std::path::Path, tls_dir: Option<&std::path::Path>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = match Config::load(path) {
        Ok(c) => {
            for w in &c.warnings {
                tracing::warn!("{w}");
            }
            c
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    if let Some(dir) = tls_dir {
        if let Err(e) = switch::tls::apply::use_generated(&mut config, dir) {
            eprintln!("error: --tls-dir {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let routing = match routing_rules::RoutingTable::load(&config.rules) {
        Ok((t, warnings)) => {
            for w in &warnings {
                tracing::warn!(%w, "routing rules warning");
            }
            t
        }
        Err(e) => {
            for p in &e.0.errors {
                eprintln!("error: {p}");
            }
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The admin address's token, checked before anything starts: a switch
    // told to serve it beyond loopback without one does not start.
    let admin = match config.admin {
        Some(address) => {
            match switch::admin::AdminToken::from_env(&config.admin_token_env, address) {
                Ok(token) => Some((address, token)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    let code = runtime.block_on(async move {
        // The recorder is installed whether or not the admin address is
        // served: the metrics are counted either way (and rendered there).
        let metrics = match switch::admin::install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => {
                eprintln!("error: metrics recorder: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut running = match RunningSwitch::start(SwitchOptions::new(config, routing)).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some((address, token)) = admin {
            let options = switch::admin::AdminOptions {
                address,
                token,
                metrics,
            };
            if let Err(e) = running.serve_admin(options) {
                eprintln!("error: {e}");
                running.shutdown().await;
                return ExitCode::FAILURE;
            }
        }
        wait_for_signals(&running).await;
        running.shutdown().await;
        ExitCode::SUCCESS
    });
    // A security-module call that never returns must not keep the process from
    // exiting once the switch has drained.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    code
}

/// Until SIGINT or SIGTERM; SIGHUP reloads the routing rules meanwhile.
async fn wait_for_signals(running: &RunningSwitch) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: draining"); return; }
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); return; }
            _ = hup.recv() => { let _ = running.reload(); }
        }
    }
}
