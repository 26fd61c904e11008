//! The catalogue's text forms: CSV (what `sim issuer --cards FILE` reads back),
//! an aligned table and JSON. Reading checks every field and refuses a bad line
//! with its number and the field's name; an error never quotes the value (it
//! may be a PAN).
//!
//! Columns: `pan,expiry,status,product,home_region,balances,daily_cash_limit,pin`.
//! `balances` is `KPW:1234.56;USD:10.00` (the first is the home currency);
//! `home_region` is empty for a product usable everywhere; `pin` may be left
//! empty (the simulators derive it from the PAN, see [`crate::cards::pin_of`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;

use codecs::luhn::luhn_valid;
use routing_rules::model::BankIdx;
use routing_rules::RoutingTable;
use rust_decimal::Decimal;

use crate::cards::{pin_of, Card, CardStatus, PAN_LEN};

use super::status_name;

/// The CSV header, also the column names of errors.
pub const COLUMNS: [&str; 8] = [
    "pan",
    "expiry",
    "status",
    "product",
    "home_region",
    "balances",
    "daily_cash_limit",
    "pin",
];

/// A line of a catalogue file that cannot be served. Names the line and the
/// column, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, field {field}: {problem}")]
pub struct CatalogueError {
    /// 1-based line number.
    pub line: usize,
    /// The column's name (see [`COLUMNS`]), or `header` / `line`.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// One card's columns as text, in [`COLUMNS`] order.
fn columns(table: &RoutingTable, card: &Card) -> [String; 8] {
    let product = &table.products()[card.product as usize];
    let region = product
        .home_region
        .map(|r| table.regions()[r as usize].id.clone())
        .unwrap_or_default();
    let balances = card
        .balances
        .iter()
        .map(|(c, amount)| format!("{}:{amount}", currency_code(*c)))
        .collect::<Vec<_>>()
        .join(";");
    [
        card.pan_str().to_string(),
        String::from_utf8_lossy(&card.expiry).into_owned(),
        status_name(card.status).to_string(),
        product.id.clone(),
        region,
        balances,
        card.daily_cash_limit.to_string(),
        String::from_utf8_lossy(&card.pin()).into_owned(),
    ]
}

fn currency_code(numeric: u16) -> String {
    codecs::currency::by_numeric(numeric).map_or_else(|| format!("{numeric:03}"), |c| c.code.into())
}

/// The catalogue as CSV, with its header line.
pub fn to_csv(table: &RoutingTable, cards: &[Card]) -> String {
    let mut out = COLUMNS.join(",") + "\n";
    for card in cards {
        out += &columns(table, card).join(",");
        out.push('\n');
    }
    out
}

/// The catalogue as aligned columns.
pub fn to_table(table: &RoutingTable, cards: &[Card]) -> String {
    let rows: Vec<[String; 8]> = cards.iter().map(|c| columns(table, c)).collect();
    let mut widths = COLUMNS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        out += text.trim_end();
        out.push('\n');
    };
    line(&COLUMNS);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// The catalogue as a JSON array (amounts as decimal strings).
pub fn to_json(table: &RoutingTable, cards: &[Card]) -> serde_json::Value {
    let list = cards
        .iter()
        .map(|card| {
            let [pan, expiry, status, product, region, _, limit, pin] = columns(table, card);
            let balances: Vec<_> = card
                .balances
                .iter()
                .map(|(c, a)| serde_json::json!({"currency": currency_code(*c), "amount": a.to_string()}))
                .collect();
            serde_json::json!({
                "pan": pan,
                "expiry": expiry,
                "status": status,
                "product": product,
                "home_region": (!region.is_empty()).then_some(region),
                "balances": balances,
                "daily_cash_limit": limit,
                "pin": pin,
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

/// Read a catalogue file for an issuer holding the cards of `holders`.
pub fn read_path(
    table: &RoutingTable,
    holders: &[BankIdx],
    path: &Path,
) -> Result<Vec<Card>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_csv(table, holders, &text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parse CSV text (blank lines and `#` comments skipped) into cards, each of a
/// product of the table issued by one of `holders`, with a PAN in that
/// product's BIN ranges.
pub fn parse_csv(
    table: &RoutingTable,
    holders: &[BankIdx],
    text: &str,
) -> Result<Vec<Card>, CatalogueError> {
    let mut cards = Vec::new();
    let mut seen: HashMap<[u8; PAN_LEN], usize> = HashMap::new();
    let mut header = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = raw.split(',').map(str::trim).collect();
        if !header {
            if cells != COLUMNS {
                return Err(err(
                    line,
                    "header",
                    format!("expected {}", COLUMNS.join(",")),
                ));
            }
            header = true;
            continue;
        }
        let card = parse_line(table, holders, line, &cells)?;
        if let Some(first) = seen.insert(card.pan, line) {
            return Err(err(line, "pan", format!("the same card as line {first}")));
        }
        cards.push(card);
    }
    if !header {
        return Err(err(1, "header", "the file is empty".into()));
    }
    Ok(cards)
}

fn err(line: usize, field: &'static str, problem: String) -> CatalogueError {
    CatalogueError {
        line,
        field,
        problem,
    }
}

fn parse_line(
    table: &RoutingTable,
    holders: &[BankIdx],
    line: usize,
    cells: &[&str],
) -> Result<Card, CatalogueError> {
    let [pan, expiry, status, product, region, balances, limit, pin] = cells else {
        return Err(err(
            line,
            "line",
            format!("{} fields, expected {}", cells.len(), COLUMNS.len()),
        ));
    };
    let fail = |field, problem: &str| err(line, field, problem.to_string());

    let pan: [u8; PAN_LEN] = pan
        .as_bytes()
        .try_into()
        .ok()
        .filter(|p: &[u8; PAN_LEN]| p.iter().all(u8::is_ascii_digit))
        .ok_or_else(|| fail("pan", &format!("not {PAN_LEN} digits")))?;
    if !luhn_valid(&pan) {
        return Err(fail("pan", "the Luhn check digit is wrong"));
    }
    let expiry: [u8; 4] = expiry
        .as_bytes()
        .try_into()
        .ok()
        .filter(|e: &[u8; 4]| {
            e.iter().all(u8::is_ascii_digit)
                && matches!(e[2..], [b'0', b'1'..=b'9'] | [b'1', b'0'..=b'2'])
        })
        .ok_or_else(|| fail("expiry", "not YYMM"))?;
    let status = match *status {
        "active" => CardStatus::Active,
        "blocked" => CardStatus::Blocked,
        "expired" => CardStatus::Expired,
        _ => return Err(fail("status", "not active, blocked or expired")),
    };
    let product_idx = table
        .products()
        .iter()
        .position(|p| p.id == *product)
        .ok_or_else(|| fail("product", "no such product in the routing rules"))?;
    let entry = &table.products()[product_idx];
    if !holders.contains(&entry.issuer) {
        return Err(fail(
            "product",
            "issued by a bank this issuer does not hold",
        ));
    }
    if table.bins().lookup(&pan).map(|r| r.product as usize) != Some(product_idx) {
        return Err(fail("pan", "not in a BIN range of the product"));
    }
    let home = entry
        .home_region
        .map(|r| table.regions()[r as usize].id.as_str())
        .unwrap_or_default();
    if *region != home {
        return Err(fail("home_region", "not the product's home region"));
    }
    let balances = parse_balances(balances).map_err(|p| fail("balances", p))?;
    if let Some((c, _)) = balances.iter().find(|(c, _)| !entry.currencies.contains(c)) {
        return Err(fail(
            "balances",
            &format!("currency {} is not one of the product's", currency_code(*c)),
        ));
    }
    let daily_cash_limit = Decimal::from_str(limit)
        .ok()
        .filter(|d| !d.is_sign_negative())
        .ok_or_else(|| fail("daily_cash_limit", "not an amount"))?;
    // The simulators' PIN pads and issuers derive the PIN from the PAN; a file
    // cannot choose another (it would never be entered).
    if !pin.is_empty() && pin.as_bytes() != pin_of(&pan).as_slice() {
        return Err(fail(
            "pin",
            "not the PIN the simulators derive from the PAN (leave it empty)",
        ));
    }
    Ok(Card {
        pan,
        expiry,
        status,
        issuer: entry.issuer,
        product: product_idx as routing_rules::model::ProductIdx,
        balances,
        daily_cash_limit,
    })
}

/// `KPW:1234.56;USD:10.00` (at least one; alphabetic or numeric codes).
fn parse_balances(text: &str) -> Result<Vec<(u16, Decimal)>, &'static str> {
    let mut out: Vec<(u16, Decimal)> = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (code, amount) = part.split_once(':').ok_or("not CURRENCY:AMOUNT;...")?;
        let currency = codecs::currency::by_code(code.trim())
            .or_else(|| {
                code.trim()
                    .parse()
                    .ok()
                    .and_then(codecs::currency::by_numeric)
            })
            .ok_or("unknown currency")?;
        let amount = Decimal::from_str(amount.trim()).map_err(|_| "not an amount")?;
        if out.iter().any(|(c, _)| *c == currency.numeric) {
            return Err("a currency twice");
        }
        out.push((currency.numeric, amount));
    }
    if out.is_empty() {
        return Err("no balance");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{generated, holders};

    fn national() -> RoutingTable {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        RoutingTable::load(Path::new(path)).unwrap().0
    }

    fn same(a: &Card, b: &Card) -> bool {
        (
            a.pan,
            a.expiry,
            a.status,
            a.issuer,
            a.product,
            &a.balances,
            a.daily_cash_limit,
        ) == (
            b.pan,
            b.expiry,
            b.status,
            b.issuer,
            b.product,
            &b.balances,
            b.daily_cash_limit,
        )
    }

    #[test]
    fn csv_round_trip_and_json_parses() {
        let t = national();
        let banks = holders(&t, "940800", &["940840".into()]).unwrap();
        let cards = generated(&t, &banks, 7, 30);
        assert!(cards.len() >= 60);
        assert!(cards.iter().any(|c| c.status == CardStatus::Blocked));
        let csv = to_csv(&t, &cards);
        let back = parse_csv(&t, &banks, &csv).unwrap();
        assert_eq!(back.len(), cards.len());
        assert!(cards.iter().zip(&back).all(|(a, b)| same(a, b)));
        let json: serde_json::Value =
            serde_json::from_str(&to_json(&t, &cards).to_string()).unwrap();
        assert_eq!(json.as_array().unwrap().len(), cards.len());
        assert_eq!(json[0]["pan"], cards[0].pan_str());
        assert!(json[0]["balances"][0]["currency"].is_string());
        let table = to_table(&t, &cards);
        assert_eq!(table.lines().count(), cards.len() + 1);
        assert!(table.starts_with("pan "));
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number_and_field_never_the_pan() {
        let t = national();
        let banks = holders(&t, "940810", &[]).unwrap();
        let cards = generated(&t, &banks, 1, 3);
        let csv = to_csv(&t, &cards);
        let good: Vec<&str> = csv.lines().collect();
        let pan = cards[1].pan_str().to_string();
        let mut wrong_luhn = pan.clone().into_bytes();
        wrong_luhn[15] = b'0' + (wrong_luhn[15] - b'0' + 1) % 10;
        let wrong_luhn = String::from_utf8(wrong_luhn).unwrap();
        let other_bank = generated(&t, &holders(&t, "940800", &[]).unwrap(), 1, 1);
        let cases: Vec<(String, &str)> = vec![
            (good[2].replacen(&pan, &wrong_luhn, 1), "pan"),
            (good[2].replacen(&pan, &pan[..15], 1), "pan"),
            (
                good[2]
                    .replacen(",active,", ",lost,", 1)
                    .replacen(",blocked,", ",lost,", 1)
                    .replacen(",expired,", ",lost,", 1),
                "status",
            ),
            (
                good[2].replacen(
                    &format!("{pan},{}", String::from_utf8_lossy(&cards[1].expiry)),
                    &format!("{pan},2913"),
                    1,
                ),
                "expiry",
            ),
            (good[2].replacen(":", ":x", 1), "balances"),
            (
                good[2].replacen(&format!(",{},", cards[1].daily_cash_limit), ",-1,", 1),
                "daily_cash_limit",
            ),
            (
                good[2]
                    .rsplit_once(',')
                    .map(|(a, _)| format!("{a},0000"))
                    .unwrap(),
                "pin",
            ),
            (
                good[2]
                    .rsplit_once(',')
                    .map(|(a, _)| a.to_string())
                    .unwrap(),
                "line",
            ),
            (
                to_csv(&t, &other_bank).lines().nth(1).unwrap().to_string(),
                "product",
            ),
            (good[1].to_string(), "pan"), // the same card twice
        ];
        for (bad, field) in &cases {
            let text = format!("{}\n{}\n# a comment\n\n{bad}\n", good[0], good[1]);
            let e = parse_csv(&t, &banks, &text).unwrap_err();
            // The PIN case may be a PIN that happens to be right: skip it then.
            if *field == "pin"
                && bad.ends_with(&String::from_utf8_lossy(&cards[1].pin()).into_owned())
            {
                continue;
            }
            assert_eq!((e.line, e.field), (5, *field), "{bad}: {e}");
            let shown = e.to_string();
            assert!(shown.starts_with("line 5, field "), "{shown}");
            assert!(
                !shown.contains(&pan) && !shown.contains(&wrong_luhn),
                "{shown}"
            );
        }
        let e = parse_csv(&t, &banks, "pan,expiry\n").unwrap_err();
        assert_eq!((e.line, e.field), (1, "header"));
        // An empty PIN is the derived one.
        let no_pin = format!("{}\n{},\n", good[0], good[1].rsplit_once(',').unwrap().0);
        assert_eq!(
            parse_csv(&t, &banks, &no_pin).unwrap()[0].pin(),
            cards[0].pin()
        );
    }
}
