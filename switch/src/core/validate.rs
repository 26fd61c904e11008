//! Mandatory fields of the requests the switch routes. A missing one is a format
//! error (RC 30), reported with the field's number.

use codecs::Message;

/// Fields an authorization or financial request must carry.
pub const REQUEST_FIELDS: [u8; 9] = [2, 3, 4, 7, 11, 32, 37, 41, 49];

/// Fields a reversal or advice must carry.
pub const REVERSAL_FIELDS: [u8; 5] = [2, 4, 11, 32, 49];

/// The first mandatory field missing from `msg`, if any.
pub fn first_missing(msg: &Message, mandatory: &[u8]) -> Option<u8> {
    mandatory.iter().copied().find(|&n| !msg.has(n))
}

/// Field 4 must be 12 digits and field 49 a known currency; the number of the
/// offending field otherwise.
pub fn amount_problem(msg: &Message) -> Option<u8> {
    if msg.amount().is_err() {
        if msg.currency().is_err() {
            return Some(49);
        }
        return Some(4);
    }
    None
}
