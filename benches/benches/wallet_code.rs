//! Criterion benchmark of the switch's per-payment work on a wallet QR code:
//! parse field 55 ([`CodeData::from_field55`]) and check the cryptogram with
//! the token's prepared key ([`CodeKey::verify`]). The key is prepared once
//! outside the loop, as the switch keeps it in memory per token; the token
//! lookup and the replay window are the switch's and not measured here.
//!
//! - `parse`: field 55 alone;
//! - `verify`: the cryptogram check alone;
//! - `parse_and_verify`: both, what one payment costs (the bound: 2 us).
//!
//! Run with `cargo bench -p benches --bench wallet_code`.

use std::hint::black_box;

use card_security::wallet::{CodeData, CodeInput, CodeKey, QrPayload, TokenKey};
use criterion::Criterion;

const TOKEN: &[u8] = b"9408990000000017";

/// The fixed code cannot fail to parse; if it does, stop loudly rather than
/// measure the error path.
#[allow(clippy::expect_used)]
fn wallet_code(c: &mut Criterion) {
    let key = CodeKey::new(&TokenKey::from_bytes([0x5C; 16]));
    let payload = QrPayload::sign(
        &key,
        &CodeInput {
            token: TOKEN,
            expiry: *b"2812",
            atc: 41,
            unpredictable: 0x0BAD_F00D,
            requestor_id: b"94000000001",
        },
    );
    let field55 = payload.field55();
    let data = CodeData::from_field55(&field55).expect("the fixed code parses");
    assert!(key.verify(&data.code_input(TOKEN), &data.cryptogram));

    let mut group = c.benchmark_group("wallet_code");
    group.bench_function("parse", |b| {
        b.iter(|| CodeData::from_field55(black_box(&field55)))
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(&key).verify(&data.code_input(black_box(TOKEN)), &data.cryptogram))
    });
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            CodeData::from_field55(black_box(&field55)).map(|data| {
                black_box(&key).verify(&data.code_input(black_box(TOKEN)), &data.cryptogram)
            })
        })
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    wallet_code(&mut criterion);
    criterion.final_summary();
}
