//! `iso8583`: decode, encode and describe ISO 8583 messages, one per line.
//!
//! - `iso8583 decode --spec NAME`: hex lines in, JSON lines out (masked unless
//!   `--unmasked`); a line that fails yields `{"error":{"field":N|null,"reason":"..."}}`.
//! - `iso8583 encode --spec NAME`: JSON lines in, hex lines out (or error objects).
//! - `iso8583 describe --spec NAME`: hex lines in, a masked human-readable table out.
//! - `iso8583 describe --dialect NAME|FILE`: the dialect's field table (number,
//!   name, class, length kind, maximum, encoding), composite fields' subfields
//!   indented under them; no input read.
//!
//! The exit status is 0 unless the input cannot be read or the spec cannot be loaded.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use codecs::composite::show::shown_value;
use codecs::composite::{Composite, Key, Mask};
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
    /// Hex-encoded messages to a masked, human-readable table; or, with
    /// --dialect, the dialect's field table.
    Describe {
        /// Print this dialect's field table (a built-in name or a spec file)
        /// instead of reading messages.
        #[arg(long, conflicts_with_all = ["spec", "spec_file"])]
        dialect: Option<String>,
        /// A built-in spec for the messages read.
        #[arg(long, conflicts_with = "spec_file")]
        spec: Option<String>,
        /// A spec file (TOML, or JSON by extension) for the messages read.
        #[arg(long)]
        spec_file: Option<std::path::PathBuf>,
    },
}

#[derive(Args)]
struct SpecArg {
    /// A built-in spec: iso87ascii, iso87binary, iso87bcd, iso87ebcdic or iso93ascii.
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
        load_spec(self.spec.as_deref(), self.spec_file.as_deref())
    }
}

fn load_spec(
    name: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Arc<Spec>, codecs::SpecError> {
    match (name, file) {
        (_, Some(path)) => codecs::spec::file::load(path).map(Arc::new),
        (Some(name), None) => Spec::builtin(name),
        (None, None) => Spec::builtin("iso87ascii"),
    }
}

/// A dialect's field table: one line per defined field.
fn dialect_table(spec: &Spec) -> String {
    let mut out = format!(
        "dialect {}: MTI {}, bitmaps {}, header {} bytes\n",
        spec.name,
        format!("{:?}", spec.mti).to_lowercase(),
        format!("{:?}", spec.bitmap).to_lowercase(),
        spec.header_len
    );
    out.push_str(&format!(
        "{:>5}  {:<52} {:<5} {:<6} {:>4}  {:<14} {:<7} notes\n",
        "field", "name", "class", "length", "max", "encoding", "prefix"
    ));
    for n in 2..=codecs::spec::MAX_FIELD {
        let Some(f) = spec.field(n) else { continue };
        let (kind, prefix) = match f.length {
            Length::Fixed(_) => ("fixed".to_string(), "-".to_string()),
            Length::Variable { digits, .. } => (
                "L".repeat(usize::from(digits)) + "VAR",
                format!("{:?}", f.prefix).to_lowercase(),
            ),
        };
        let mut notes = Vec::new();
        if spec.is_sensitive(n) {
            notes.push("sensitive");
        }
        if f.structure != codecs::spec::Structure::Plain {
            notes.push(f.structure.name());
        }
        out.push_str(&format!(
            "{n:>5}  {:<52} {:<5} {kind:<6} {:>4}  {:<14} {prefix:<7} {}\n",
            f.description,
            f.class.name(),
            f.length.max(),
            format!("{:?}", f.encoding).to_lowercase(),
            notes.join(", ")
        ));
        if let Some(layout) = f.structure.composite() {
            out.push_str(&subfield_table(layout));
        }
    }
    out
}

/// A composite's declared subfields, one indented line each: key, name,
/// class, length kind, maximum, mask.
fn subfield_table(layout: &Composite) -> String {
    let mut out = String::new();
    match layout {
        Composite::Tlv(t) => out.push_str(&format!(
            "       tags of {} characters, lengths of {} digits, undeclared tags {}\n",
            t.tag_len,
            t.length_digits,
            if t.strict { "refused" } else { "kept" }
        )),
        Composite::Bitmap(b) => out.push_str(&format!(
            "       own bitmap: {}\n",
            format!("{:?}", b.bitmap).to_lowercase()
        )),
        Composite::Positional(_) => {}
    }
    for (key, sub) in layout.declared() {
        let kind = match sub.length {
            Length::Fixed(_) => "fixed".to_string(),
            Length::Variable { digits, .. } => "L".repeat(usize::from(digits)) + "VAR",
        };
        let mask = match sub.mask {
            Mask::None => "",
            Mask::Pan => "masked as a PAN",
            Mask::Length => "masked by length",
        };
        // Positional subfields by place (their name follows), the others
        // by tag or number.
        let key = match key {
            Key::Position(p) => format!(".{p}"),
            other => layout.label(other),
        };
        out.push_str(&format!(
            "       {key:<6} {:<45} {:<5} {kind:<6} {:>4}  {mask}\n",
            sub.name,
            sub.class.name(),
            sub.length.max(),
        ));
    }
    out
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
        if let (Some(layout), Some(Ok(parts)), false) = (
            msg.composite_layout(n),
            msg.composite(n),
            msg.is_sensitive(n),
        ) {
            for (key, value) in parts.iter() {
                let sub = layout.subfield(key);
                out.push_str(&format!(
                    "       {:<8} {:<45} {}\n",
                    layout.label(key),
                    sub.map_or("(undeclared)", |s| s.name.as_str()),
                    shown_value(sub, field.is_binary(), value, true)
                ));
            }
        }
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match &cli.command {
        Command::Decode { spec, .. } | Command::Encode { spec } => spec.load(),
        Command::Describe {
            dialect: Some(name),
            ..
        } => {
            return match Spec::by_name_or_path(name) {
                Ok(spec) => {
                    let _ = io::stdout().write_all(dialect_table(&spec).as_bytes());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("iso8583: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Describe {
            spec, spec_file, ..
        } => load_spec(spec.as_deref(), spec_file.as_deref()),
    };
    let spec = match loaded {
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
