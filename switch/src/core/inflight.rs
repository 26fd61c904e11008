//! Requests forwarded to issuers and not yet answered, in a sharded concurrent map
//! keyed by (issuer link, MTI class, switch STAN). The acquirer's own keys ride
//! along and are restored on the response. STAN alone is never a key.

use codecs::Message;
use dashmap::DashMap;

use super::action::LinkId;
use super::id_hash::IdHasher;
use super::short_text::ShortText;
use super::time::Millis;

/// The key of a forwarded request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InFlightKey {
    /// The issuer link it went out on.
    pub link: LinkId,
    /// MTI class digit (1 authorization, 2 financial, 4 reversal, 8 network).
    pub class: u8,
    /// The switch's STAN on that link.
    pub stan: u32,
}

/// Why a message is in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// An acquirer's request (0100, 0200, 0400) awaiting the issuer's answer.
    Request,
    /// A store-and-forward message (0420/0421, 0120, 0220) awaiting acknowledgement.
    Saf {
        /// The SAF item id.
        item: u64,
    },
    /// The switch's own account verification for an app's enrolment.
    Enrolment {
        /// The driver's enrolment request id.
        request: u64,
    },
}

impl Purpose {
    /// A request that someone waits on (an acquirer, or an app's enrolment):
    /// timed out and answered on shutdown; SAF deliveries are not.
    pub fn is_request(self) -> bool {
        matches!(self, Purpose::Request | Purpose::Enrolment { .. })
    }
}

/// What the switch remembers about a forwarded message.
#[derive(Debug)]
pub struct InFlightEntry {
    /// The journal id of the transaction (0 for store-and-forward deliveries).
    pub txn_id: u64,
    /// Request or SAF delivery.
    pub purpose: Purpose,
    /// The acquirer connection to answer (requests only).
    pub acquirer_link: LinkId,
    /// The message as forwarded (for a reversal if it times out).
    pub forwarded: Message,
    /// The acquirer's field 7 and 11, replaced on the way out.
    pub acquirer_f7: Option<ShortText>,
    /// The acquirer's STAN.
    pub acquirer_f11: Option<ShortText>,
    /// What the acquirer sent in the fields the switch rewrites or adds toward the
    /// issuer (33, 90, 100); None when it sent none of them (the usual case).
    pub acquirer_routing: Option<Box<AcquirerRouting>>,
    /// The issuer bank.
    pub issuer: ShortText,
    /// The routing rule that decided, if any.
    pub rule: Option<ShortText>,
    /// When the request arrived.
    pub started: Millis,
    /// When it times out.
    pub deadline: Millis,
    /// Where it came from (terminal, ATM, an app's QR code).
    pub channel: routing_rules::Channel,
    /// For a token payment: the card forwarded and what the answer gets back.
    pub token: Option<Box<super::tokens::payment::TokenUse>>,
}

/// The acquirer's own fields 33 (forwarding institution), 90 (original data
/// elements, in the acquirer's terms) and 100 (receiving institution). Toward the
/// issuer the switch sets 33 to itself, 100 to the issuer and 90 to the original as
/// the issuer knows it; the answer gives the acquirer back exactly what it sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcquirerRouting {
    /// Field 33 as the acquirer sent it.
    pub f33: Option<ShortText>,
    /// Field 90 as the acquirer sent it.
    pub f90: Option<ShortText>,
    /// Field 100 as the acquirer sent it.
    pub f100: Option<ShortText>,
}

impl AcquirerRouting {
    /// The fields the switch rewrites, as `msg` (the acquirer's request) has them;
    /// None when it has none of them.
    pub fn of(msg: &Message) -> Option<Box<AcquirerRouting>> {
        let field = |n: u8| msg.text(n).map(|v| ShortText::from(&*v));
        let routing = AcquirerRouting {
            f33: field(33),
            f90: field(90),
            f100: field(100),
        };
        (routing != AcquirerRouting::default()).then(|| Box::new(routing))
    }

    /// Field `n` (33, 90 or 100) as the acquirer sent it.
    pub fn field(&self, n: u8) -> Option<&ShortText> {
        match n {
            33 => self.f33.as_ref(),
            90 => self.f90.as_ref(),
            100 => self.f100.as_ref(),
            _ => None,
        }
    }
}

/// The fields the switch rewrites or adds toward the issuer (see [`AcquirerRouting`]).
pub const ROUTING_FIELDS: [u8; 3] = [33, 90, 100];

/// The in-flight map.
#[derive(Default)]
pub struct InFlight {
    /// Boxed: the table's spare slots then cost a pointer, not a whole entry.
    /// Keyed by ids the switch assigns (its link and its STAN), so hashed without
    /// SipHash ([`IdHasher`]).
    map: DashMap<InFlightKey, Box<InFlightEntry>, IdHasher>,
}

impl InFlight {
    /// Track a forwarded message.
    pub fn insert(&self, key: InFlightKey, mut entry: InFlightEntry) {
        // Held until the answer or the timeout: keep only what is used.
        entry.forwarded.shrink_to_fit();
        self.map.insert(key, Box::new(entry));
    }

    /// Whether `key` is in flight.
    pub fn contains(&self, key: &InFlightKey) -> bool {
        self.map.contains_key(key)
    }

    /// Take the entry for `key` (exactly one caller gets it).
    pub fn take(&self, key: &InFlightKey) -> Option<InFlightEntry> {
        self.map.remove(key).map(|(_, e)| *e)
    }

    /// Take the entry for `key` only if its deadline has passed at `now`.
    pub fn take_if_expired(&self, key: &InFlightKey, now: Millis) -> Option<InFlightEntry> {
        self.map
            .remove_if(key, |_, e| e.deadline <= now)
            .map(|(_, e)| *e)
    }

    /// Entries in flight.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys of every entry on `link`.
    pub fn keys_on(&self, link: LinkId) -> Vec<InFlightKey> {
        self.map
            .iter()
            .filter(|e| e.key().link == link)
            .map(|e| *e.key())
            .collect()
    }

    /// Acquirer requests in flight (SAF deliveries not counted).
    pub fn requests(&self) -> usize {
        self.map
            .iter()
            .filter(|e| e.value().purpose.is_request())
            .count()
    }

    /// Keys of every acquirer request in flight.
    pub fn request_keys(&self) -> Vec<InFlightKey> {
        self.map
            .iter()
            .filter(|e| e.value().purpose.is_request())
            .map(|e| *e.key())
            .collect()
    }

    /// Keys of requests whose acquirer is `link`.
    pub fn keys_from_acquirer(&self, link: LinkId) -> Vec<InFlightKey> {
        self.map
            .iter()
            .filter(|e| e.value().purpose == Purpose::Request && e.value().acquirer_link == link)
            .map(|e| *e.key())
            .collect()
    }
}
