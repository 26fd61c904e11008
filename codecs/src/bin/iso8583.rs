//! `iso8583`: decode, encode and describe ISO 8583 messages, one per line.
//!
//! - `iso8583 decode --spec NAME`: hex lines in, JSON lines out (masked unless
//!   `--unmasked`); a line that fails yields `{"error":{"field":N|null,"reason":"..."}}`.
//! - `iso8583 encode --spec NAME`: JSON lines in, hex lines out (or error objects).
//! - `iso8583 describe --spec NAME`: hex lines in, a masked human-readable table out.
//!
//! The exit status is 0 unless the input cannot be read or the spec cannot be loaded.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use codecs::content::{from_hex, to_hex};
use codecs::json::{from_json, to_json};
use codecs::mask::masked_text;
use codecs::spec::{Length, Spec};

#[derive(Parser)]
#[command(
    name = "iso8583",
    version,
    about = "Decode, encode and describe ISO 8583 messages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Hex-encoded messages (one per line, no length header) to JSON lines.
    Decode {
        #[command(flatten)]
        spec: SpecArg,
        /// Show PANs and sensitive fields in full.
        #[arg(long)]
        unmasked: bool,
    },
    /// JSON lines to hex-encoded messages.
    Encode {
        #[command(flatten)]
        spec: SpecArg,
    },
    /// Hex-encoded messages to a masked, human-readable table.
    Describe {
        #[command(flatten)]
        spec: SpecArg,
    },
}

#[derive(Args)]
struct SpecArg {
    /// A built-in spec: iso87ascii, iso87binary or iso87bcd.
    #[arg(
        long,
        conflicts_with = "spec_file",
        required_unless_present = "spec_file"
    )]
    spec: Option<String>,
    /// A spec file (TOML, or JSON by extension).
    #[arg(long)]
    spec_file: Option<std::path::PathBuf>,
}

impl SpecArg {
    fn load(&self) -> Result<Arc<Spec>, codecs::SpecError> {
        match (&self.spec, &self.spec_file) {
            (_, Some(path)) => codecs::spec::file::load(path).map(Arc::new),
            (Some(name), None) => Spec::builtin(name),
            (None, None) => Spec::builtin("iso87ascii"),
        }
    }
}

fn error_line(field: Option<u8>, reason: &str) -> String {
    serde_json::json!({"error": {"field": field, "reason": reason}}).to_string()
}

fn decode_line(spec: &Spec, line: &str, unmasked: bool) -> String {
    let Some(bytes) = from_hex(line.as_bytes()) else {
        return error_line(None, "input line is not hex");
    };
    match spec.decode(bytes.into()) {
        Ok(msg) => to_json(&msg, !unmasked),
        Err(e) => error_line(e.location.field_number(), &e.to_string()),
    }
}

fn encode_line(spec: &Spec, line: &str) -> String {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return error_line(None, &format!("invalid JSON: {e}")),
    };
    let msg = match from_json(&value, spec) {
        Ok(m) => m,
        Err(e) => return error_line(e.field(), &e.to_string()),
    };
    match spec.encode_to_bytes(&msg) {
        Ok(bytes) => to_hex(&bytes),
        Err(e) => error_line(e.location.field_number(), &e.to_string()),
    }
}

fn describe_line(spec: &Spec, line: &str) -> String {
    let Some(bytes) = from_hex(line.as_bytes()) else {
        return "error: input line is not hex\n".into();
    };
    let msg = match spec.decode(bytes.into()) {
        Ok(m) => m,
        Err(e) => return format!("error: {e}\n"),
    };
    let mti = msg.mti();
    let mut out = format!(
        "MTI {mti}  version {:?}, class {:?}, function {:?}, origin {:?}\n",
        mti.version(),
        mti.class(),
        mti.function(),
        mti.origin()
    );
    for field in msg.fields() {
        let n = field.number();
        let (format, name) = match spec.field(n) {
            Some(f) => {
                let len = match f.length {
                    Length::Fixed(l) => format!("{l}"),
                    Length::Variable { digits, max } => {
                        format!("{}{max}", ".".repeat(digits as usize))
                    }
                };
                (format!("{}{len}", f.class.name()), f.description.as_ref())
            }
            None => (String::new(), ""),
        };
        out.push_str(&format!(
            "  {n:>3}  {format:<8} {name:<45} {}\n",
            masked_text(&msg, &field)
        ));
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let spec_arg = match &cli.command {
        Command::Decode { spec, .. } | Command::Encode { spec } | Command::Describe { spec } => {
            spec
        }
    };
    let spec = match spec_arg.load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("iso8583: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for line in io::stdin().lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("iso8583: cannot read input: {e}");
                return ExitCode::FAILURE;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let rendered = match &cli.command {
            Command::Decode { unmasked, .. } => decode_line(&spec, line, *unmasked) + "\n",
            Command::Encode { .. } => encode_line(&spec, line) + "\n",
            Command::Describe { .. } => describe_line(&spec, line),
        };
        if out.write_all(rendered.as_bytes()).is_err() {
            return ExitCode::SUCCESS; // stdout closed (e.g. piped into head)
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
