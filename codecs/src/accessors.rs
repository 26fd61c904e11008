//! Typed accessors for the fields the switch reads on every message: PAN,
//! processing code, amount and currency, STAN, RRN and response code.

use std::borrow::Cow;
use std::fmt;

use rust_decimal::Decimal;

use crate::currency::{self, Currency};
use crate::luhn::luhn_valid;
use crate::mask::mask_pan;
use crate::message::Message;

/// A primary account number. `Debug` and `Display` show at most the first 6 and
/// last 4 digits; use [`Pan::digits`] deliberately where the full number is needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan<'a>(Cow<'a, [u8]>);

impl<'a> Pan<'a> {
    /// Wrap ASCII digits.
    pub fn new(digits: impl Into<Cow<'a, [u8]>>) -> Pan<'a> {
        Pan(digits.into())
    }

    /// The full PAN (ASCII). Never log this.
    pub fn digits(&self) -> &[u8] {
        &self.0
    }

    /// 12-19 digits (ISO/IEC 7812 lengths) with a valid Luhn check digit. The
    /// network's own, narrower length rules belong to the routing rules.
    pub fn is_valid(&self) -> bool {
        (12..=19).contains(&self.0.len()) && luhn_valid(&self.0)
    }

    /// The first `n` digits (the BIN / issuer prefix).
    pub fn prefix(&self, n: usize) -> &[u8] {
        &self.0[..n.min(self.0.len())]
    }

    /// The masked form: first 6 and last 4 digits at most.
    pub fn masked(&self) -> String {
        mask_pan(&self.0)
    }
}

impl fmt::Debug for Pan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Field 3: transaction type and account types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessingCode {
    /// First two digits: 00 purchase, 01 cash, 31 balance inquiry, ...
    pub transaction_type: u8,
    /// Digits 3-4: the account debited.
    pub from_account: u8,
    /// Digits 5-6: the account credited.
    pub to_account: u8,
}

/// Why an amount could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Field 49 is missing.
    #[error("currency (field 49) missing")]
    MissingCurrency,
    /// Field 49 is not a known ISO 4217 numeric code.
    #[error("unknown currency code")]
    UnknownCurrency,
    /// The amount field is not all digits.
    #[error("amount is not numeric")]
    NotNumeric,
    /// The amount is negative, has more decimals than the currency allows, or does
    /// not fit 12 digits.
    #[error("amount not representable in the currency's minor units")]
    NotRepresentable,
}

impl Message {
    /// Field 2, the PAN.
    pub fn pan(&self) -> Option<Pan<'_>> {
        self.get(2).map(|f| Pan(f.bytes()))
    }

    /// Field 3.
    pub fn processing_code(&self) -> Option<ProcessingCode> {
        let v = self.get(3)?.to_u64()?;
        if self.get(3)?.len() != 6 {
            return None;
        }
        Some(ProcessingCode {
            transaction_type: (v / 10_000) as u8,
            from_account: (v / 100 % 100) as u8,
            to_account: (v % 100) as u8,
        })
    }

    /// Field 11, the system trace audit number.
    pub fn stan(&self) -> Option<u32> {
        self.get(11)?.to_u64().and_then(|v| u32::try_from(v).ok())
    }

    /// Set field 11 (six digits, zero-padded).
    pub fn set_stan(&mut self, stan: u32) {
        self.set_digits(11, u64::from(stan), 6);
    }

    /// Field 37, the retrieval reference number.
    pub fn rrn(&self) -> Option<Cow<'_, str>> {
        self.text(37)
    }

    /// Field 39, the response code.
    pub fn response_code(&self) -> Option<Cow<'_, str>> {
        self.text(39)
    }

    /// Set field 39.
    pub fn set_response_code(&mut self, rc: &str) {
        self.set(39, rc);
    }

    /// Field 49, the transaction currency.
    pub fn currency(&self) -> Result<Currency, AmountError> {
        let code = self.get(49).ok_or(AmountError::MissingCurrency)?.to_u64();
        code.and_then(|c| u16::try_from(c).ok())
            .and_then(currency::by_numeric)
            .ok_or(AmountError::UnknownCurrency)
    }

    /// Field 4 in major units of the field 49 currency (e.g. `1250.00` for KPW);
    /// `Ok(None)` when there is no amount.
    pub fn amount(&self) -> Result<Option<Decimal>, AmountError> {
        let Some(field) = self.get(4) else {
            return Ok(None);
        };
        let minor = field.to_u64().ok_or(AmountError::NotNumeric)?;
        let currency = self.currency()?;
        let minor = i64::try_from(minor).map_err(|_| AmountError::NotRepresentable)?;
        Ok(Some(Decimal::new(minor, currency.minor_units)))
    }

    /// Set field 4 (12 digits of minor units) and field 49 from a decimal amount.
    pub fn set_amount(&mut self, amount: Decimal, currency: Currency) -> Result<(), AmountError> {
        let minor = amount_to_minor(amount, currency)?;
        self.set_digits(4, minor, 12);
        self.set_digits(49, u64::from(currency.numeric), 3);
        Ok(())
    }
}

/// Minor units of `amount` in `currency`: exact, non-negative, at most 12 digits.
pub fn amount_to_minor(amount: Decimal, currency: Currency) -> Result<u64, AmountError> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(AmountError::NotRepresentable);
    }
    let scaled = amount * Decimal::from(10u64.pow(currency.minor_units));
    if scaled.fract() != Decimal::ZERO {
        return Err(AmountError::NotRepresentable);
    }
    let minor: u64 = scaled
        .trunc()
        .try_into()
        .map_err(|_| AmountError::NotRepresentable)?;
    if minor > 999_999_999_999 {
        return Err(AmountError::NotRepresentable);
    }
    Ok(minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mti::Mti;
    use std::str::FromStr;

    fn msg() -> Message {
        let mut m = Message::new(Mti::new(b"0200").unwrap());
        m.set(2, "9408123456781234");
        m.set(3, "310000");
        m.set(4, "000000125000");
        m.set(11, "000042");
        m.set(37, "123456789012");
        m.set(39, "00");
        m.set(49, "408");
        m
    }

    #[test]
    fn typed_fields() {
        let m = msg();
        let pan = m.pan().unwrap();
        assert_eq!(pan.to_string(), "940812******1234");
        assert_eq!(format!("{pan:?}"), "Pan(940812******1234)");
        let pc = m.processing_code().unwrap();
        assert_eq!(
            (pc.transaction_type, pc.from_account, pc.to_account),
            (31, 0, 0)
        );
        assert_eq!(m.stan(), Some(42));
        assert_eq!(m.rrn().unwrap(), "123456789012");
        assert_eq!(m.response_code().unwrap(), "00");
        assert_eq!(
            m.amount().unwrap(),
            Some(Decimal::from_str("1250.00").unwrap())
        );
        assert_eq!(m.currency().unwrap().code, "KPW");
    }

    #[test]
    fn amounts_follow_minor_units() {
        let mut m = msg();
        let jpy = currency::by_code("JPY").unwrap();
        m.set_amount(Decimal::from(1500), jpy).unwrap();
        assert_eq!(m.text(4).unwrap(), "000000001500");
        assert_eq!(m.text(49).unwrap(), "392");
        assert_eq!(m.amount().unwrap(), Some(Decimal::from(1500)));
        let kpw = currency::by_code("KPW").unwrap();
        let err = m.set_amount(Decimal::from_str("1.005").unwrap(), kpw);
        assert_eq!(err, Err(AmountError::NotRepresentable));
        let bhd = currency::by_code("BHD").unwrap();
        m.set_amount(Decimal::from_str("1.005").unwrap(), bhd)
            .unwrap();
        assert_eq!(m.text(4).unwrap(), "000000001005");
        m.set(49, "999");
        assert_eq!(m.amount(), Err(AmountError::UnknownCurrency));
        m.remove(49);
        assert_eq!(m.amount(), Err(AmountError::MissingCurrency));
    }
}
