//! `hot-ops`: a micro-loop of one codec or key-store operation the switch runs per
//! transaction, for counting instructions under callgrind (repeatable on a shared
//! machine, where wall-clock timings are not).
//!
//! `hot-ops OP N` runs operation `OP` `N` times on the reference 0200 purchase
//! ([`benches::reference_message`]) and prints a checksum (so nothing is optimised
//! away). `scripts/callgrind-ops.sh` runs each operation under callgrind at two
//! counts and prints the difference per operation, which leaves out the setup.
//! `hot-ops --list` prints the operations. The `core_*` operations are whole
//! purchases through the switch's core ([`payments`]): the script counts only the
//! core's calls there.

mod payments;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

use benches::{Fixture, SetupError};
use codecs::{Message, Mti};
use switch::core::duplicates::{DuplicateKey, DuplicateKeyRef, Duplicates};
use switch::core::recent::{AcquirerKey, AcquirerKeyRef, Forwarded, Recent};
use switch::core::Millis;

/// The operations, each with what one iteration does.
const OPS: &[(&str, &str)] = &[
    ("decode", "iso87ascii decode of the reference frame"),
    (
        "text5",
        "Message::text of fields 7, 11, 32, 37, 41 of a decoded message",
    ),
    (
        "str5",
        "Message::str of fields 7, 11, 32, 37, 41 of a decoded message",
    ),
    (
        "set_stan",
        "Message::set_stan on a message built through the API",
    ),
    (
        "build14",
        "Message::new and 14 Message::set (a reversal's fields)",
    ),
    (
        "build14_cap",
        "Message::with_capacity and 14 Message::set (a reversal's fields)",
    ),
    (
        "encode_built",
        "encode_to_bytes of the reference message built through the API",
    ),
    (
        "forward",
        "decode, set_stan, set 33 and 100, encode_to_bytes (the switch's forward)",
    ),
    (
        "dup_owned",
        "a DuplicateKey of Strings, Duplicates::check_and_insert (window 60 s, 100,000 keys)",
    ),
    (
        "recent_owned",
        "an AcquirerKey of Strings, Recent::insert then Recent::get (200,000 keys)",
    ),
    (
        "dup_ref",
        "a DuplicateKeyRef of &strs, Duplicates::check_and_insert (window 60 s, 100,000 keys)",
    ),
    (
        "recent_ref",
        "an AcquirerKeyRef of &strs, Recent::insert_ref then Recent::get_ref (200,000 keys)",
    ),
    (
        "core_card",
        "a card purchase through switch::core::Core: 0200 in, forward, 0210 in, answer",
    ),
    (
        "core_qr",
        "the same paid by QR with a token: token and code checks, token -> card and back",
    ),
    (
        "core_stand_in",
        "the same card purchase, its issuer down: decided in stand-in, advice queued, answer",
    ),
];

/// Six ASCII digits of `v` (the loop's STANs), without `format!`.
fn six_digits(v: u64) -> [u8; 6] {
    let mut out = [b'0'; 6];
    let mut v = v % 1_000_000;
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

fn stan_text(buf: &[u8; 6]) -> &str {
    std::str::from_utf8(buf).unwrap_or("000000")
}

const REVERSAL_FIELDS: [(u8, &str); 14] = [
    (2, "9408001234567896"),
    (3, "000000"),
    (4, "000000012500"),
    (7, "0612143015"),
    (11, "004217"),
    (12, "173015"),
    (13, "0612"),
    (32, "940800"),
    (33, "940000"),
    (37, "516314004217"),
    (41, "TRM00417"),
    (42, "940800000012345"),
    (49, "408"),
    (90, "020000421706121430150000094080000000940000"),
];

fn run(op: &str, n: u64) -> Result<u64, SetupError> {
    let fixture = Fixture::new("iso87ascii")?;
    let spec = &*fixture.spec;
    let wire = fixture.wire.clone();
    let decoded = spec.decode(wire.clone())?;
    let mut sum = 0u64;
    match op {
        "decode" => {
            for _ in 0..n {
                let m = black_box(spec).decode(black_box(&wire).clone())?;
                sum += m.field_numbers().count() as u64;
            }
        }
        "text5" => {
            let m = black_box(&decoded);
            for _ in 0..n {
                for f in [7, 11, 32, 37, 41] {
                    sum += m.text(black_box(f)).map_or(0, |t| t.len() as u64);
                }
            }
        }
        "str5" => {
            let m = black_box(&decoded);
            for _ in 0..n {
                for f in [7, 11, 32, 37, 41] {
                    sum += m.str(black_box(f)).map_or(0, |t| t.len() as u64);
                }
            }
        }
        "set_stan" => {
            let mut m = fixture.message.clone();
            for i in 0..n {
                m.set_stan(black_box(i as u32));
                sum += u64::from(m.stan().unwrap_or(0));
            }
        }
        "build14" => {
            for _ in 0..n {
                let mut m = Message::new(Mti::new(b"0420").ok_or("mti")?);
                for (f, v) in black_box(&REVERSAL_FIELDS) {
                    m.set(*f, v);
                }
                sum += black_box(&m).field_numbers().count() as u64;
            }
        }
        "build14_cap" => {
            for _ in 0..n {
                let fields = black_box(&REVERSAL_FIELDS);
                let bytes = fields.iter().map(|(_, v)| v.len()).sum();
                let mut m =
                    Message::with_capacity(Mti::new(b"0420").ok_or("mti")?, fields.len(), bytes);
                for (f, v) in fields {
                    m.set(*f, v);
                }
                sum += black_box(&m).field_numbers().count() as u64;
            }
        }
        "encode_built" => {
            for _ in 0..n {
                let out = spec.encode_to_bytes(black_box(&fixture.message))?;
                sum += out.len() as u64;
            }
        }
        "forward" => {
            for i in 0..n {
                let mut m = black_box(spec).decode(black_box(&wire).clone())?;
                m.set_stan(i as u32);
                m.set(33, black_box("940000"));
                m.set(100, black_box("940810"));
                sum += spec.encode_to_bytes(&m)?.len() as u64;
            }
        }
        "dup_owned" => {
            let store = Duplicates::new(Duration::from_secs(60), 100_000);
            for i in 0..n {
                let stan = six_digits(i);
                let key = DuplicateKey {
                    acquirer: black_box("940800").to_owned(),
                    class: 2,
                    transmission: black_box("0612143015").to_owned(),
                    stan: stan_text(&stan).to_owned(),
                    terminal: black_box("TRM00417").to_owned(),
                };
                sum += u64::from(store.check_and_insert(key, Millis(i)));
            }
        }
        "recent_owned" => {
            let store = Recent::new(200_000);
            for i in 0..n {
                let key = AcquirerKey {
                    acquirer: black_box("940800").to_owned(),
                    stan: i as u32,
                    transmission: black_box("0612143015").to_owned(),
                };
                store.insert(
                    key.clone(),
                    Forwarded {
                        issuer: black_box("940810").to_owned(),
                        field90: black_box(REVERSAL_FIELDS[13].1).to_owned(),
                        stand_in: false,
                    },
                );
                sum += store.get(&key).map_or(0, |f| f.field90.len() as u64);
            }
        }
        "dup_ref" => {
            let store = Duplicates::new(Duration::from_secs(60), 100_000);
            for i in 0..n {
                let stan = six_digits(i);
                let key = DuplicateKeyRef {
                    acquirer: black_box("940800"),
                    class: 2,
                    transmission: black_box("0612143015"),
                    stan: stan_text(&stan),
                    terminal: black_box("TRM00417"),
                };
                sum += u64::from(store.check_and_insert(key, Millis(i)));
            }
        }
        "recent_ref" => {
            let store = Recent::new(200_000);
            for i in 0..n {
                let key = AcquirerKeyRef {
                    acquirer: black_box("940800"),
                    stan: i as u32,
                    transmission: black_box("0612143015"),
                };
                store.insert_ref(key, black_box("940810"), black_box(REVERSAL_FIELDS[13].1));
                sum += store.get_ref(key).map_or(0, |f| f.field90.len() as u64);
            }
        }
        "core_card" => sum = payments::run(payments::Payment::Card, n)?,
        "core_qr" => sum = payments::run(payments::Payment::Qr, n)?,
        "core_stand_in" => sum = payments::run(payments::Payment::StandIn, n)?,
        other => return Err(format!("unknown operation {other} (try --list)").into()),
    }
    Ok(sum)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for (name, what) in OPS {
            println!("{name}\t{what}");
        }
        return ExitCode::SUCCESS;
    }
    let (Some(op), Some(Ok(n))) = (args.first(), args.get(1).map(|s| s.parse::<u64>())) else {
        eprintln!("usage: hot-ops OP N | hot-ops --list");
        return ExitCode::from(2);
    };
    match run(op, n) {
        Ok(sum) => {
            println!("{op} {n} {sum}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hot-ops: {e}");
            ExitCode::FAILURE
        }
    }
}
