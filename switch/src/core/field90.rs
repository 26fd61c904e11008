//! Field 90 (original data elements) naming a message the switch forwarded: its
//! MTI (4), STAN (6), transmission date-time (10), acquirer (11) and forwarding
//! institution (11), the last three zero-padded on the left. Written by plain
//! copies into 42 bytes, once per forwarded request (it is on the request path:
//! the recent-originals index and, should the request time out, its reversal).

use codecs::Message;

/// The length of field 90 as the switch makes it.
pub(crate) const LEN: usize = 42;

/// Field 90 from its parts: `mti` (4), `stan`, the transmission date-time,
/// acquirer and forwarding institution zero-padded on the left. For what is not
/// on the request path: an original read back from the journal, a stand-in
/// decision.
pub(crate) fn field90_of(
    mti: &str,
    stan: u32,
    transmission: &str,
    acquirer: &str,
    institution: &str,
) -> String {
    format!("{mti}{stan:06}{transmission:0>10}{acquirer:0>11}{institution:0>11}")
}

/// Field 90 of a forwarded message.
pub(crate) enum Field90 {
    /// The usual case: every part fits its width.
    Inline([u8; LEN]),
    /// A part longer than its width (never from a spec the switch ships): kept
    /// whole as `format!`'s padding would give it, so it still names the original.
    Long(String),
}

impl Field90 {
    /// The field's text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and the parts' ASCII text are copied in.
            Field90::Inline(b) => std::str::from_utf8(b).unwrap_or_default(),
            Field90::Long(s) => s,
        }
    }
}

/// Field 90 describing `msg` (None without a STAN).
pub(crate) fn field90(msg: &Message) -> Option<Field90> {
    let stan = msg.stan()?;
    let f7 = msg.text(7).unwrap_or_default();
    let f32 = msg.text(32).unwrap_or_default();
    let f33 = msg.text(33).unwrap_or_default();
    let mti = msg.mti();
    let mti = mti.as_bytes();
    let fits = stan <= 999_999
        && [(&f7, 10), (&f32, 11), (&f33, 11)]
            .iter()
            .all(|(s, width)| s.len() <= *width && s.is_ascii());
    if !fits {
        return Some(Field90::Long(format!(
            "{}{stan:06}{f7:0>10}{f32:0>11}{f33:0>11}",
            msg.mti()
        )));
    }
    let mut buf = [b'0'; LEN];
    buf[..4].copy_from_slice(mti);
    let mut v = stan;
    for d in buf[4..10].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    right_align(&mut buf[10..20], f7.as_bytes());
    right_align(&mut buf[20..31], f32.as_bytes());
    right_align(&mut buf[31..42], f33.as_bytes());
    Some(Field90::Inline(buf))
}

/// Copy `text` to the end of `slot` (already zeros): `{:0>width}`.
fn right_align(slot: &mut [u8], text: &[u8]) {
    let at = slot.len() - text.len();
    slot[at..].copy_from_slice(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::Mti;

    /// The padding of `field90_of` (the old `format!`), for comparison.
    fn by_format(msg: &Message) -> Option<String> {
        Some(field90_of(
            msg.mti().as_str(),
            msg.stan()?,
            &msg.text(7).unwrap_or_default(),
            &msg.text(32).unwrap_or_default(),
            &msg.text(33).unwrap_or_default(),
        ))
    }

    #[test]
    fn same_text_as_format_padding() {
        let mut m = Message::new(Mti::new(b"0200").expect("an MTI"));
        m.set_stan(42);
        m.set(7, "1125101010");
        m.set(32, "940857");
        m.set(33, "940000");
        let f = field90(&m).expect("has a STAN");
        assert!(matches!(f, Field90::Inline(_)));
        assert_eq!(f.as_str(), by_format(&m).expect("has a STAN"));
        assert_eq!(f.as_str(), "020000004211251010100000094085700000940000");

        // Absent parts are zeros; an overlong part is kept whole.
        m.remove(33);
        assert_eq!(
            field90(&m).expect("stan").as_str(),
            by_format(&m).expect("stan")
        );
        m.set(32, "123456789012");
        let long = field90(&m).expect("stan");
        assert!(matches!(long, Field90::Long(_)));
        assert_eq!(long.as_str(), by_format(&m).expect("stan"));
        m.remove(11);
        assert!(field90(&m).is_none());
    }
}
