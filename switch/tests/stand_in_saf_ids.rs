//! A stand-in advice's journal row names its store-and-forward item by id: ids
//! must never be used again after a restart (the queue drained, its highest id
//! gone), or a later item's acknowledgement marks another run's advice delivered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod journal_support;
mod temp_db;

use codecs::{Message, Mti};
use switch::core::journal::{FinalState, StandInNote};
use switch::core::StoreOp;
use switch::store::{open_connection, Store};

use journal_support::{config, record};
use temp_db::temp_db;

const NOW_MS: i64 = 1_795_000_000_000;

fn msg(stan: u32) -> Message {
    let mut m = Message::new(Mti::REVERSAL_ADVICE);
    m.set_stan(stan);
    m.set(7, "1125101010");
    m.set(32, "940800");
    m
}

#[tokio::test]
async fn an_expired_stand_in_advice_is_never_marked_delivered_by_a_later_item() {
    let path = temp_db("review18-saf-ids");
    // Run 1: a stand-in approval, its advice SAF item 1, which expires undelivered.
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    assert_eq!(recovered.last_saf_id, 0);
    let mut r = record(
        7,
        "940800",
        "940810",
        "000007",
        "50.00",
        FinalState::Approved,
    );
    r.stand_in = Some(StandInNote {
        check: "within-limits",
        entry: Some("e".into()),
        advice_saf: Some(1),
    });
    store.journal(r, NOW_MS);
    store
        .apply(
            StoreOp::SafPush {
                id: 1,
                issuer: "940810".into(),
                msg: msg(1),
                card: None,
            },
            NOW_MS,
        )
        .unwrap();
    store.apply(StoreOp::SafExpired { id: 1 }, NOW_MS).unwrap();
    store.durable(store.submitted()).await;
    store.close();

    // Run 2: the queue is empty, so SAF ids start again at 1; item 1 is now an
    // unrelated reversal, and the issuer acknowledges it.
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS + 1000).unwrap();
    let next_id = recovered.last_saf_id + 1;
    store
        .apply(
            StoreOp::SafPush {
                id: next_id,
                issuer: "940810".into(),
                msg: msg(2),
                card: None,
            },
            NOW_MS + 1000,
        )
        .unwrap();
    store
        .apply(StoreOp::SafAck { id: next_id }, NOW_MS + 2000)
        .unwrap();
    store.durable(store.submitted()).await;
    store.close();

    let conn = open_connection(&path).unwrap();
    let delivered: Option<i64> = conn
        .query_row(
            "SELECT advice_delivered_ms FROM journal WHERE id = 7",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        delivered, None,
        "the advice expired undelivered; item {next_id} of the next run is another message"
    );
}

/// A stand-in advice's card survives a restart sealed (the database holds no PAN
/// digits), comes back in field 2 with the vault's key, and a start without the
/// key is refused rather than delivering the advice without its card.
#[tokio::test]
async fn a_stand_in_advice_keeps_its_card_sealed_across_a_restart() {
    use switch::core::tokens::SecretPan;
    use switch::security::KeyMaterial;
    const PAN: &str = "9408100000004321";
    let kek =
        KeyMaterial::from_hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
            .unwrap();
    let path = temp_db("stand-in-sealed-card");
    let (store, _) =
        Store::open_with_vault(&config(path.clone()), &kek, "TEST_KEK", NOW_MS, 0).unwrap();
    let mut advice = msg(7);
    advice.set(2, PAN);
    store
        .apply(
            StoreOp::SafPush {
                id: 1,
                issuer: "940810".into(),
                msg: advice,
                card: Some(SecretPan::new(PAN).unwrap()),
            },
            NOW_MS,
        )
        .unwrap();
    store.durable(store.submitted()).await;
    store.close();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !bytes.windows(PAN.len()).any(|w| w == PAN.as_bytes()),
        "the PAN's digits in the database"
    );
    let (_store, recovered) =
        Store::open_with_vault(&config(path.clone()), &kek, "TEST_KEK", NOW_MS + 1, 0).unwrap();
    assert_eq!(recovered.saf.len(), 1);
    assert!(recovered.saf[0].stand_in_advice);
    assert_eq!(recovered.saf[0].msg.text(2).as_deref(), Some(PAN));
    drop(_store);
    let refused = Store::open(&config(path.clone()), NOW_MS + 2);
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("sealed"), "{message}");
}
