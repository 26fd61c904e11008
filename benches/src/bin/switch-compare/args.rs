//! The command line (clap): the flags, their defaults and the checks across flags
//! that clap cannot express (`--transport` only with `--compare transport`, ...),
//! turned into the [`Options`] the runs read. The hidden child modes
//! (`--serve-switch`, `--serve-relay`) are parsed here too and served by
//! [`crate::serve`].

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The switch against a plain frame relay with the same simulators, and the
/// switch's memory per transaction in flight; one JSON line per mode on stdout.
#[derive(Parser, Debug)]
#[command(name = "switch-compare")]
pub struct Cli {
    /// Repetitions (each runs every middle or setup once).
    #[arg(long, default_value = "3", value_parser = positive_u32)]
    reps: u32,
    /// Seconds of load per run.
    #[arg(long, default_value = "5", value_parser = positive_f64)]
    secs: f64,
    /// Acquirer connections (at most 256, the listener's limit).
    #[arg(long, default_value = "64", value_parser = positive_u32)]
    connections: u32,
    /// Open-loop rate of `rate10k`, requests per second.
    #[arg(long, value_name = "TPS", default_value = "10000", value_parser = positive_f64)]
    rate: f64,
    /// Transactions held in flight by the memory mode (at most 900000: six-digit STANs).
    #[arg(long, value_name = "N", default_value = "100000", value_parser = positive_u32)]
    in_flight: u32,
    /// Modes, comma-separated (default: all three; closed64,rate10k with --compare).
    #[arg(long, value_enum, value_delimiter = ',')]
    modes: Vec<Mode>,
    /// The memory mode's switch: `PATH run --config CONFIG` instead of this binary.
    #[arg(long, value_name = "PATH")]
    switch_bin: Option<PathBuf>,
    /// The switch's journal: none (records to the debug log; the default, but
    /// relaxed for --compare stand-in), relaxed or strict (SQLite, a fresh
    /// database in the temporary directory per run).
    #[arg(long, value_enum)]
    journal: Option<Journal>,
    /// Compare the switch with itself instead of with the relay: plain TCP vs
    /// --transport, no journal vs relaxed vs strict, card vs token (QR)
    /// payments, forwarding vs stand-in for a down issuer, or the strict
    /// journal on SQLite vs PostgreSQL vs two nodes on PostgreSQL (closed64
    /// and rate10k).
    #[arg(long, value_enum)]
    compare: Option<Compare>,
    /// What `--compare transport` puts the secured switch's links on (default tls+mac).
    #[arg(long, value_enum)]
    transport: Option<Transport>,
    /// fsyncs of 4 KiB timed before each mode of `--compare journal` (default 200).
    #[arg(long, value_name = "N", value_parser = positive_u32)]
    fsyncs: Option<u32>,
    /// Where the middle of relay vs switch runs: in a process of its own (its CPU
    /// per transaction measured apart from the simulators'), or in this process
    /// beside the simulators (as before issue 17).
    #[arg(long, value_enum, default_value = "process")]
    middle: Placement,
    /// Child mode: serve the switch from CONFIG (see the module docs).
    #[arg(long, value_name = "CONFIG", hide = true)]
    pub serve_switch: Option<PathBuf>,
    /// Child mode: serve the plain frame relay to UPSTREAM.
    #[arg(long, value_name = "UPSTREAM", hide = true)]
    pub serve_relay: Option<SocketAddr>,
    /// Print the throughput runs' switch configuration for an issuer at ISSUER
    /// (for `scripts/profile-switch.sh`, which serves it with `--serve-switch`).
    #[arg(long, value_name = "ISSUER", hide = true)]
    pub print_config: Option<SocketAddr>,
}

/// What the runs read: the flags with their defaults applied and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub reps: usize,
    pub secs: f64,
    pub connections: usize,
    pub rate: f64,
    pub in_flight: u64,
    pub modes: Vec<Mode>,
    pub switch_bin: Option<PathBuf>,
    /// `--journal`: none, relaxed or strict.
    pub journal: &'static str,
    /// `--compare`: None for relay vs switch.
    pub compare: Option<Compare>,
    /// `--transport`: what `--compare transport` puts the switch's links on.
    pub transport: Transport,
    /// `--fsyncs`: how many fsyncs `--compare journal` times.
    pub fsyncs: usize,
    /// `--middle`: where relay and switch run in relay vs switch.
    pub middle: Placement,
}

/// What a run compares instead of relay vs switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Compare {
    /// The switch over plain TCP vs over `--transport`, alternated.
    Transport,
    /// The switch without a journal, with a relaxed one and a strict one, rotated.
    Journal,
    /// Card purchases vs token purchases by QR (app payments), alternated.
    Channel,
    /// Forwarding to an issuer that answers vs stand-in for it while it is
    /// down, alternated.
    StandIn,
    /// The strict journal on SQLite, on PostgreSQL, and two nodes on one
    /// PostgreSQL database (a throwaway server), rotated.
    Store,
}

/// The secured transport of `--compare transport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Mutual TLS and MACs on every link (the figure).
    #[value(name = "tls+mac")]
    TlsMac,
    /// Mutual TLS alone.
    Tls,
    /// MACs alone, over plain TCP.
    Mac,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::TlsMac => "tls+mac",
            Transport::Tls => "tls",
            Transport::Mac => "mac",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, Transport::TlsMac | Transport::Tls)
    }

    pub fn mac(self) -> bool {
        matches!(self, Transport::TlsMac | Transport::Mac)
    }
}

/// The switch's journal (`--journal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Journal {
    None,
    Relaxed,
    Strict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Closed64,
    Rate10k,
    Memory,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Closed64, Mode::Rate10k, Mode::Memory];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Closed64 => "closed64",
            Mode::Rate10k => "rate10k",
            Mode::Memory => "memory",
        }
    }
}

/// Where the middle of relay vs switch runs (`--middle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Placement {
    /// A child process of its own (this binary in a hidden child mode).
    Process,
    /// This process, on the simulators' runtime.
    InProcess,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Process => "process",
            Placement::InProcess => "in-process",
        }
    }
}

fn positive_u32(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a positive integer"))
}

fn positive_f64(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x > 0.0)
        .ok_or_else(|| format!("{s:?} is not a positive number"))
}

impl Cli {
    /// The options, or what is wrong across flags.
    pub fn options(self) -> Result<Options, String> {
        let mut modes = self.modes;
        match self.compare {
            Some(compare) => {
                if modes.is_empty() {
                    modes = vec![Mode::Closed64, Mode::Rate10k];
                } else if modes.contains(&Mode::Memory) {
                    return Err("--compare: closed64 and rate10k only (not memory)".into());
                }
                if compare == Compare::Journal && self.journal.is_some() {
                    return Err(
                        "--compare journal runs none, relaxed and strict: leave --journal out"
                            .into(),
                    );
                }
                if compare == Compare::Channel && self.journal.is_some_and(|j| j != Journal::None) {
                    // With a journal the store keeps the token vault, which needs
                    // a key-encryption key the benchmark does not provide.
                    return Err("--compare channel runs without a journal (--journal none)".into());
                }
                if compare == Compare::Store && self.journal.is_some() {
                    return Err(
                        "--compare store runs the strict journal: leave --journal out".into(),
                    );
                }
                if compare == Compare::Store && self.middle == Placement::InProcess {
                    return Err("--compare store runs every node in a process of its own".into());
                }
                if compare != Compare::Transport && self.transport.is_some() {
                    return Err("--transport needs --compare transport".into());
                }
                if compare != Compare::Journal && self.fsyncs.is_some() {
                    return Err("--fsyncs needs --compare journal".into());
                }
            }
            None => {
                if modes.is_empty() {
                    modes = Mode::ALL.to_vec();
                }
                for (flag, given) in [
                    ("--transport", self.transport.is_some()),
                    ("--fsyncs", self.fsyncs.is_some()),
                ] {
                    if given {
                        return Err(format!("{flag} needs --compare"));
                    }
                }
            }
        }
        if self.connections > 256 {
            return Err("--connections: at most 256 (the listener's limit)".into());
        }
        if self.in_flight > 900_000 {
            return Err("--in-flight: at most 900000 (six-digit STANs)".into());
        }
        Ok(Options {
            reps: self.reps as usize,
            secs: self.secs,
            connections: self.connections as usize,
            rate: self.rate,
            in_flight: u64::from(self.in_flight),
            modes,
            switch_bin: self.switch_bin,
            journal: match self.journal.unwrap_or(match self.compare {
                // Stand-in is measured as it runs in production: journaled,
                // its advices in the durable store-and-forward queue.
                Some(Compare::StandIn) => Journal::Relaxed,
                Some(Compare::Store) => Journal::Strict,
                _ => Journal::None,
            }) {
                Journal::None => "none",
                Journal::Relaxed => "relaxed",
                Journal::Strict => "strict",
            },
            compare: self.compare,
            transport: self.transport.unwrap_or(Transport::TlsMac),
            fsyncs: self.fsyncs.unwrap_or(200) as usize,
            middle: self.middle,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Options, String> {
        let args = std::iter::once("switch-compare").chain(s.split_whitespace());
        Cli::try_parse_from(args)
            .map_err(|e| e.to_string())?
            .options()
    }

    fn defaults() -> Options {
        Options {
            reps: 3,
            secs: 5.0,
            connections: 64,
            rate: 10_000.0,
            in_flight: 100_000,
            modes: Mode::ALL.to_vec(),
            switch_bin: None,
            journal: "none",
            compare: None,
            transport: Transport::TlsMac,
            fsyncs: 200,
            middle: Placement::Process,
        }
    }

    #[test]
    fn flags() {
        assert_eq!(parse("").unwrap(), defaults());
        let o = parse(
            "--reps 1 --secs=2 --connections 8 --rate 500 --in-flight 1000 --modes memory,closed64",
        )
        .unwrap();
        assert_eq!((o.reps, o.secs, o.connections), (1, 2.0, 8));
        assert_eq!((o.rate, o.in_flight), (500.0, 1000));
        assert_eq!(o.modes, vec![Mode::Memory, Mode::Closed64]);
        assert_eq!(o.journal, "none");
        assert_eq!(parse("--journal strict").unwrap().journal, "strict");
        assert!(parse("--journal fast").is_err());
        assert!(parse("--modes fast").is_err());
        assert!(parse("--connections 300").is_err());
        assert!(parse("--in-flight 0").is_err());
        assert!(parse("--secs -1").is_err());
        assert!(parse("--bogus 1").is_err());
    }

    #[test]
    fn middle_placement() {
        assert_eq!(parse("").unwrap().middle, Placement::Process);
        assert_eq!(
            parse("--middle in-process").unwrap().middle,
            Placement::InProcess
        );
        assert!(parse("--middle elsewhere").is_err());
    }

    #[test]
    fn compare_flags() {
        let o = parse("--compare transport --transport tls").unwrap();
        assert_eq!(o.compare, Some(Compare::Transport));
        assert_eq!(o.transport, Transport::Tls);
        assert_eq!(o.modes, vec![Mode::Closed64, Mode::Rate10k]);
        assert_eq!(parse("--compare journal --fsyncs 10").unwrap().fsyncs, 10);
        assert!(parse("--compare transport --modes memory").is_err());
        assert!(parse("--compare journal --journal strict").is_err());
        assert!(parse("--compare journal --journal none").is_err());
        assert!(parse("--compare journal --transport mac").is_err());
        let o = parse("--compare channel").unwrap();
        assert_eq!(o.compare, Some(Compare::Channel));
        assert_eq!(o.modes, vec![Mode::Closed64, Mode::Rate10k]);
        assert_eq!(o.journal, "none");
        assert!(parse("--compare channel --journal none").is_ok());
        assert!(parse("--compare channel --journal strict").is_err());
        assert!(parse("--compare channel --transport tls").is_err());
        assert!(parse("--compare channel --fsyncs 10").is_err());
        assert!(parse("--compare transport --fsyncs 10").is_err());
        let o = parse("--compare stand-in").unwrap();
        assert_eq!(o.compare, Some(Compare::StandIn));
        assert_eq!(o.modes, vec![Mode::Closed64, Mode::Rate10k]);
        assert_eq!(o.journal, "relaxed");
        assert_eq!(
            parse("--compare stand-in --journal strict")
                .unwrap()
                .journal,
            "strict"
        );
        assert_eq!(
            parse("--compare stand-in --journal none").unwrap().journal,
            "none"
        );
        assert!(parse("--compare stand-in --transport tls").is_err());
        let o = parse("--compare store").unwrap();
        assert_eq!(o.compare, Some(Compare::Store));
        assert_eq!(o.modes, vec![Mode::Closed64, Mode::Rate10k]);
        assert_eq!(o.journal, "strict");
        assert!(parse("--compare store --journal strict").is_err());
        assert!(parse("--compare store --middle in-process").is_err());
        assert!(parse("--compare store --fsyncs 10").is_err());
        assert!(parse("--transport mac").is_err());
        assert!(parse("--fsyncs 10").is_err());
        assert_eq!(
            parse("--compare transport --transport tls+mac")
                .unwrap()
                .transport,
            Transport::TlsMac
        );
    }

    /// `--help` lists every flag (not the child modes).
    #[test]
    fn help_lists_the_flags() {
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        for flag in [
            "--reps",
            "--secs",
            "--connections",
            "--rate",
            "--in-flight",
            "--modes",
            "--switch-bin",
            "--journal",
            "--compare",
            "--transport",
            "--fsyncs",
            "--middle",
        ] {
            assert!(help.contains(flag), "{flag} missing from --help");
        }
        assert!(!help.contains("--serve-switch"));
        assert!(!help.contains("--print-config"));
    }
}
