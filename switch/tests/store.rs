//! The durable store on its own: recovery of transactions left forwarded (a
//! reversal queued exactly once), refusal of a corrupted or unusable database,
//! store-and-forward surviving a restart, settlement arithmetic, and a stuck
//! writer that never blocks whoever hands it work.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test fails by panicking

mod journal_support;
mod temp_db;

use std::sync::Arc;
use std::time::Duration;

use codecs::{Message, Mti};
use rust_decimal::Decimal;
use switch::core::journal::{FinalState, JournalRecord};
use switch::core::saf::SafQueue;
use switch::core::{Millis, StoreOp};
use switch::store::business_day::scheduled_day;
use switch::store::interchange::{Interchange, InterchangeEntry, Payer};
use switch::store::settlement::{settle, settle_with};
use switch::store::{open_connection, Store};

use journal_support::{config, forwarded_for, record};
use temp_db::temp_db;

const NOW_MS: i64 = 1_795_000_000_000;

/// The wall clock, in Unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Bank `bank`'s net position in settlement `s`, as text.
fn position_of(s: &switch::store::settlement::Settlement, bank: &str) -> String {
    s.positions
        .iter()
        .find(|p| p.bank == bank)
        .unwrap()
        .amount
        .to_string()
}

/// The 0420 the switch owes for [`forwarded_for`]`(stan)`, field for field.
fn reversal_for(stan: u32) -> Message {
    let mut m = Message::new(Mti::REVERSAL_ADVICE);
    m.set_stan(stan);
    m.set(7, "1125101010");
    m.set(32, "940800");
    m.set(33, "940000");
    m.set(39, codecs::ResponseCode::RESPONSE_TOO_LATE.as_str());
    m.set(
        90,
        &format!("0200{stan:06}11251010100000094080000000940000"),
    );
    m
}

async fn write_and_close(store: Store, records: Vec<JournalRecord>) {
    let mut last = 0;
    for r in records {
        last = store.journal(r, NOW_MS);
    }
    store.durable(last).await;
    store.close();
}

#[tokio::test]
async fn forwarded_transactions_get_one_reversal_across_restarts() {
    let path = temp_db("recovery");
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    assert_eq!((recovered.last_txn_id, recovered.reversals_queued), (0, 0));
    let mut left = record(
        1,
        "940800",
        "940810",
        "000001",
        "10.00",
        FinalState::Forwarded,
    );
    left.forwarded = Some(forwarded_for(1));
    let mut done = record(
        2,
        "940800",
        "940810",
        "000002",
        "20.00",
        FinalState::Forwarded,
    );
    done.forwarded = Some(forwarded_for(2));
    let completed = record(
        2,
        "940800",
        "940810",
        "000002",
        "20.00",
        FinalState::Approved,
    );
    write_and_close(store, vec![left, done, completed]).await;

    // First restart: the one left forwarded gets its reversal.
    let (store, recovered) =
        Store::open_remembering(&config(path.clone()), NOW_MS + 1000, 10).unwrap();
    // Both are remembered (newest first) for reversals that arrive later.
    let remembered: Vec<(&str, u32)> = recovered
        .forwarded
        .iter()
        .map(|f| (f.stan.as_str(), f.switch_stan))
        .collect();
    assert_eq!(remembered, vec![("000002", 2), ("000001", 1)]);
    assert_eq!(recovered.last_txn_id, 2);
    assert_eq!(recovered.reversals_queued, 1);
    assert_eq!(recovered.saf.len(), 1);
    let item = &recovered.saf[0];
    assert_eq!(item.issuer, "940810");
    assert_eq!(item.msg.mti(), Mti::REVERSAL_ADVICE);
    assert_eq!(
        item.msg.text(90).as_deref(),
        Some("020000000111251010100000094080000000940000")
    );
    store.close();

    // Second restart: nothing new is queued; the unacknowledged one is still owed.
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS + 2000).unwrap();
    assert_eq!(recovered.reversals_queued, 0);
    assert_eq!(recovered.saf.len(), 1);

    // Acknowledged: gone after the next restart.
    let store = Arc::new(store);
    let saf = SafQueue::restore(recovered.saf);
    let id = saf.take_due("940810", Millis(0), 1)[0].id;
    assert!(saf.acknowledge("940810", id));
    store.apply(StoreOp::SafAck { id }, NOW_MS + 2000).unwrap();
    store.durable(store.submitted()).await;
    store.close();
    let (_store, recovered) = Store::open(&config(path.clone()), NOW_MS + 3000).unwrap();
    assert!(recovered.saf.is_empty());
}

#[tokio::test]
async fn saf_messages_survive_a_restart_in_order_without_card_data() {
    let path = temp_db("saf");
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    let store = Arc::new(store);
    assert!(recovered.saf.is_empty());
    for stan in 1..=3u32 {
        let mut m = reversal_for(stan);
        m.set(2, "9408101234567893");
        m.set(35, "9408101234567893=2912101");
        // The core strips card data before it hands a push over; the store
        // keeps none whatever it is given.
        let push = StoreOp::SafPush {
            id: u64::from(stan),
            issuer: "940820".into(),
            msg: m,
            card: None,
        };
        store.apply(push, NOW_MS).unwrap();
    }
    store.durable(store.submitted()).await;
    store.close();
    let (_store, recovered) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    let stans: Vec<u32> = recovered
        .saf
        .iter()
        .map(|i| i.msg.stan().unwrap())
        .collect();
    assert_eq!(stans, vec![1, 2, 3]);
    assert!(recovered
        .saf
        .iter()
        .all(|i| !i.msg.has(2) && !i.msg.has(35)));
    // Nor anywhere in the files.
    let dir = path.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(16).any(|w| w == b"9408101234567893"),
            "a full PAN is stored"
        );
    }
}

#[test]
fn a_corrupted_or_unusable_database_is_an_error_not_a_fresh_start() {
    let path = temp_db("corrupt");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&config(path.clone()), NOW_MS)
        .err()
        .expect("opened garbage");
    let text = err.to_string();
    assert!(text.contains("journal.db"), "{text}");
    // The garbage is left as it was for the operator.
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192]);

    // A folder where the file should be.
    let dir_path = temp_db("folder");
    std::fs::create_dir_all(&dir_path).unwrap();
    assert!(Store::open(&config(dir_path.clone()), NOW_MS).is_err());
}

#[tokio::test]
async fn settlement_nets_reversals_and_positions_sum_to_zero() {
    let path = temp_db("settle");
    let (store, _) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    let mut reversal = record(5, "940800", "940810", "000009", "0", FinalState::Approved);
    reversal.mti = "0420".into();
    reversal.amount = None;
    reversal.reverses = Some(("1125101010".into(), "000002".into()));
    let mut other_bank = record(
        6,
        "940820",
        "940800",
        "000003",
        "7.25",
        FinalState::Approved,
    );
    other_bank.transmission = "1125101011".into();
    let mut authorization = record(
        7,
        "940800",
        "940810",
        "000004",
        "99.00",
        FinalState::Approved,
    );
    authorization.mti = "0100".into();
    write_and_close(
        store,
        vec![
            record(
                1,
                "940800",
                "940810",
                "000001",
                "10.00",
                FinalState::Approved,
            ),
            record(
                2,
                "940800",
                "940810",
                "000002",
                "20.00",
                FinalState::Approved,
            ),
            record(
                3,
                "940800",
                "940810",
                "000005",
                "40.00",
                FinalState::Declined,
            ),
            record(
                4,
                "940800",
                "940810",
                "000006",
                "80.00",
                FinalState::TimedOut,
            ),
            reversal,
            other_bank,
            authorization,
        ],
    )
    .await;
    let conn = open_connection(&path).unwrap();
    let s = settle(&conn, scheduled_day(NOW_MS, 0), Some("940800".into())).unwrap();
    let pair = |a: &str, i: &str| {
        s.pairs
            .iter()
            .find(|p| p.acquirer == a && p.issuer == i)
            .map(|p| (p.count, p.amount.to_string()))
    };
    // 10 + 20 approved, 20 reversed; the decline, the timeout and the 0100 do not count.
    assert_eq!(pair("940800", "940810"), Some((1, "10.00".into())));
    assert_eq!(pair("940820", "940800"), Some((1, "7.25".into())));
    let total: Decimal = s.positions.iter().map(|p| p.amount).sum();
    assert_eq!(total, Decimal::ZERO);
    let position = |b: &str| position_of(&s, b);
    assert_eq!(position("940800"), "2.75");
    assert_eq!(position("940810"), "-10.00");
    assert_eq!(position("940820"), "7.25");
    // Another day has nothing.
    let other = settle(&conn, scheduled_day(NOW_MS, 0) + 1, None).unwrap();
    assert!(other.pairs.is_empty());

    // With interchange: 1 % of purchases paid by the acquirer (reversed with them),
    // a cash fee that does not apply to these purchases.
    let fees = Interchange {
        entries: vec![
            InterchangeEntry {
                transaction: Some("01"),
                currency: None,
                percent: Decimal::ZERO,
                fixed: Decimal::from(5),
                paid_by: Payer::Issuer,
            },
            InterchangeEntry {
                transaction: Some("00"),
                currency: None,
                percent: Decimal::ONE,
                fixed: Decimal::ZERO,
                paid_by: Payer::Acquirer,
            },
        ],
    };
    let s = settle_with(&conn, scheduled_day(NOW_MS, 0), None, &fees).unwrap();
    let fee = |a: &str, i: &str| {
        s.pairs
            .iter()
            .find(|p| p.acquirer == a && p.issuer == i)
            .map(|p| p.interchange.to_string())
    };
    // 0.10 + 0.20 - 0.20; 7.25 at 1 % is 0.0725, 0.07 to the cent.
    assert_eq!(fee("940800", "940810"), Some("0.10".into()));
    assert_eq!(fee("940820", "940800"), Some("0.07".into()));
    let position = |b: &str| position_of(&s, b);
    assert_eq!(position("940800"), "2.72");
    assert_eq!(position("940810"), "-9.90");
    assert_eq!(position("940820"), "7.18");
    let total: Decimal = s.positions.iter().map(|p| p.amount).sum();
    assert_eq!(total, Decimal::ZERO);
    assert!(s
        .to_csv()
        .starts_with(
            "kind,acquirer_or_bank,issuer,currency,count,amount,interchange,stand_in_count,stand_in_amount\n"
        ));
    assert!(
        s.to_csv()
            .contains("pair,940800,940810,408,1,10.00,0.10,0,0\n"),
        "{}",
        s.to_csv()
    );
}

#[tokio::test]
async fn a_reversal_queued_before_the_crash_is_not_queued_again() {
    // The last run timed the transaction out and queued its reversal, and stopped
    // before the journal update that closes the row was committed.
    let path = temp_db("queued-once");
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    let store = Arc::new(store);
    assert!(recovered.saf.is_empty());
    let mut forwarded = record(
        5,
        "940800",
        "940810",
        "000005",
        "50.00",
        FinalState::Forwarded,
    );
    forwarded.forwarded = Some(forwarded_for(5));
    store.journal(forwarded, NOW_MS);
    let push = StoreOp::SafPush {
        id: 1,
        issuer: "940810".into(),
        msg: reversal_for(5),
        card: None,
    };
    store.apply(push, NOW_MS).unwrap();
    store.durable(store.submitted()).await;
    store.close();

    let (_store, recovered) = Store::open(&config(path.clone()), NOW_MS + 1000).unwrap();
    assert_eq!(recovered.reversals_queued, 0, "already owed");
    assert_eq!(recovered.saf.len(), 1, "owed exactly once");
    let conn = open_connection(&path).unwrap();
    let state: String = conn
        .query_row("SELECT state FROM journal WHERE id = 5", [], |r| r.get(0))
        .unwrap();
    assert_eq!(state, "reversed_at_restart");
}

#[tokio::test]
async fn a_restored_message_expires_counting_from_when_it_was_first_queued() {
    let path = temp_db("expiry");
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    assert!(recovered.saf.is_empty());
    let push = StoreOp::SafPush {
        id: 1,
        issuer: "940810".into(),
        msg: reversal_for(7),
        card: None,
    };
    store.apply(push, now_ms()).unwrap();
    store.durable(store.submitted()).await;
    store.close();

    // Restarted two hours later: with a one-hour expiry it is due to expire at
    // once; with a three-hour one it stays for the hour it has left.
    let two_hours_later = now_ms() + 2 * 3_600_000;
    let (store, recovered) = Store::open(&config(path.clone()), two_hours_later).unwrap();
    let waited = recovered.saf[0].waited_before_ms;
    assert!(
        (2 * 3_600_000 - 60_000..=2 * 3_600_000 + 60_000).contains(&waited),
        "{waited}"
    );
    store.close();
    let saf = SafQueue::restore(recovered.saf);
    let hour = Duration::from_secs(3600);
    assert!(saf.expire(Millis(0), 3 * hour).is_empty());
    assert!(saf.expire(Millis(3_500_000), 3 * hour).is_empty());
    assert_eq!(saf.expire(Millis(3_700_000), 3 * hour).len(), 1);
    assert_eq!(saf.depth(), 0);
}

#[tokio::test]
async fn a_cutover_by_command_is_carried_out_while_the_switch_is_busy() {
    let path = temp_db("cutover");
    let mut cfg = config(path.clone());
    cfg.cutover_secs = 0;
    let (store, _) = Store::open(&cfg, NOW_MS).unwrap();
    let store = Arc::new(store);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let before = store.business_day(now());
    // As `switch cutover` does: a request row written from another connection.
    open_connection(&path)
        .unwrap()
        .execute(
            "INSERT INTO cutover_requests (requested_ms) VALUES (?1)",
            [now()],
        )
        .unwrap();
    // Records keep arriving: the writer is never idle for a whole second.
    let mut day = before;
    for i in 0..3_000u64 {
        store.journal(
            record(
                1_000 + i,
                "940800",
                "940810",
                "000001",
                "1.00",
                FinalState::Declined,
            ),
            now(),
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
        day = store.business_day(now());
        if day > before {
            break;
        }
    }
    assert_eq!(day, before + 1, "cutover by command carried out while busy");
    store.close();
}

#[test]
fn settling_a_journal_that_is_not_there_is_an_error_not_an_empty_day() {
    let folder = temp_db("absent");
    let path = folder.with_file_name("no-such-journal.db");
    let error = switch::store::open_existing(&path).err().unwrap();
    assert!(error.to_string().contains("no journal database"), "{error}");
    assert!(!path.exists(), "nothing created");
}

#[tokio::test]
async fn a_journal_written_by_the_previous_schema_is_migrated_in_place() {
    let path = temp_db("v1");
    {
        // Version 1: the journal without processing_code.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v1 = switch::store::schema::CREATE
            .replace(
                "processing_code TEXT,             -- field 3 (interchange depends on the transaction type)\n",
                "",
            )
            // Version 3's columns (issue 22) were not there either.
            .replace("    reversal BLOB,", "    reversal BLOB")
            .replace(
                "    channel TEXT,                     -- terminal, atm or wallet-qr (NULL: written before issue 22)\n",
                "",
            )
            .replace("    app TEXT                          -- an app's payment: the app's id\n", "");
        assert!(!v1.contains("channel TEXT"));
        assert_ne!(v1, switch::store::schema::CREATE);
        conn.execute_batch(&v1).unwrap();
        conn.execute_batch("PRAGMA user_version=1;").unwrap();
        conn.execute(
            "INSERT INTO journal (id, business_day, created_ms, updated_ms, mti, acquirer, issuer,
                transmission, stan, rrn, terminal, pan_first6, pan_last4, amount, currency,
                response_code, state, elapsed_ms)
             VALUES (1, ?1, 0, 0, '0200', '940800', '940810', '1125101010', '000001', '1',
                'T1', '940810', '1234', '12.50', 408, '00', 'approved', 1)",
            [scheduled_day(NOW_MS, 0)],
        )
        .unwrap();
    }
    let (store, recovered) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    assert_eq!(recovered.last_txn_id, 1, "the old rows are kept");
    write_and_close(
        store,
        vec![record(
            2,
            "940800",
            "940810",
            "000002",
            "7.50",
            FinalState::Approved,
        )],
    )
    .await;
    let conn = open_connection(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, switch::store::schema::VERSION);
    let s = settle(&conn, scheduled_day(NOW_MS, 0), None).unwrap();
    assert_eq!(s.pairs.len(), 1);
    assert_eq!(
        (s.pairs[0].count, s.pairs[0].amount.to_string()),
        (2, "20.00".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_writer_never_blocks_whoever_hands_it_work() {
    let path = temp_db("stuck-writer");
    let (store, _) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    let store = Arc::new(store);
    // Another connection holds the write lock: the writer's commits wait.
    let blocker = open_connection(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    // More than a bounded queue to the writer held (65,536 before), from a
    // thread of its own, as a tokio worker would hand them over.
    const OPS: u64 = 100_000;
    let (done, submitted) = std::sync::mpsc::channel();
    let submitter = {
        let store = store.clone();
        std::thread::spawn(move || {
            for id in 1..=OPS {
                store.apply(StoreOp::SafAck { id }, NOW_MS).unwrap();
            }
            let _ = done.send(());
        })
    };
    let handed_over = submitted.recv_timeout(Duration::from_secs(20));
    // (Not asked of a blocked submitter: it would hold the numbering lock.)
    let backlog = handed_over.is_ok().then(|| store.backlog());
    // The lock goes whatever happened, so that the writer (and a blocked
    // submitter) can finish.
    blocker.execute_batch("COMMIT").unwrap();
    submitter.join().unwrap();
    assert!(
        handed_over.is_ok(),
        "handing work over blocked while the writer was stuck"
    );
    assert!(
        backlog.is_some_and(|b| b > OPS / 2),
        "the backlog shows: {backlog:?}"
    );
    tokio::time::timeout(Duration::from_secs(30), store.durable(store.submitted()))
        .await
        .expect("the writer catches up once the lock is gone");
    assert_eq!(store.backlog(), 0);
    store.close();
}

#[tokio::test]
async fn settlement_shows_the_app_channel_apart_net_of_reversals() {
    let path = temp_db("settle-channels");
    let (store, _) = Store::open(&config(path.clone()), NOW_MS).unwrap();
    let by_app = |id: u64, stan: &str, amount: &str, app: &str| {
        let mut r = record(id, "940800", "940810", stan, amount, FinalState::Approved);
        r.channel = routing_rules::Channel::WalletQr;
        r.app = Some(app.into());
        r
    };
    // The acquirer reverses the first Koryo Pay payment.
    let mut reversal = record(9, "940800", "940810", "000009", "0", FinalState::Approved);
    reversal.mti = "0420".into();
    reversal.amount = None;
    reversal.reverses = Some(("1125101010".into(), "000001".into()));
    write_and_close(
        store,
        vec![
            by_app(1, "000001", "10.00", "koryo-pay"),
            by_app(2, "000002", "20.00", "koryo-pay"),
            by_app(3, "000003", "5.00", "jonsong"),
            record(
                4,
                "940800",
                "940810",
                "000004",
                "40.00",
                FinalState::Approved,
            ),
            reversal,
        ],
    )
    .await;
    let conn = open_connection(&path).unwrap();
    let s = settle(&conn, scheduled_day(NOW_MS, 0), None).unwrap();
    let total = |channel: &str, app: Option<&str>| {
        s.channels
            .iter()
            .find(|c| c.channel == channel && c.app.as_deref() == app)
            .map(|c| (c.count, c.amount.to_string()))
    };
    assert_eq!(
        total("wallet-qr", Some("koryo-pay")),
        Some((1, "20.00".into()))
    );
    assert_eq!(
        total("wallet-qr", Some("jonsong")),
        Some((1, "5.00".into()))
    );
    assert_eq!(total("terminal", None), Some((1, "40.00".into())));
    // The channels add up to the bank pair's total.
    let pair = &s.pairs[0];
    assert_eq!((pair.count, pair.amount.to_string()), (3, "65.00".into()));
    assert!(s
        .to_csv()
        .contains("channel,wallet-qr,koryo-pay,408,1,20.00,"));
    assert!(s.to_table().contains("By channel"));
}
