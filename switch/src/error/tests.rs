//! The mapping, kind by kind, and the rule that no error's text or debug form
//! carries card data.

#![allow(clippy::unwrap_used)]

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use codecs::framing::FramingError;
use codecs::{Message, Mti, ResponseCode, Spec};

use super::*;
use crate::config::ConfigError;
use crate::net::first_frame::NoFrame;
use crate::net::handshake::Refused;
use crate::security::message::{MacFailure, SealError};
use crate::security::pin::PinBlockError;
use crate::security::SecurityError;
use crate::store::StoreError;

/// A PAN that must never show (Luhn-valid, so a decoder could not object to it).
const PAN: &str = "4761739001010010";

fn answer(rc: ResponseCode) -> Disposition {
    Disposition::Answer(rc)
}

#[test]
fn read_failures_close_the_link_and_are_safe_to_retry() {
    let eof = LinkError::from_read(FramingError::Io(io::ErrorKind::UnexpectedEof.into()));
    assert!(matches!(eof, LinkError::PeerClosed), "{eof:?}");
    let reset = LinkError::from_read(FramingError::Io(io::ErrorKind::ConnectionReset.into()));
    assert!(matches!(reset, LinkError::Io(_)), "{reset:?}");
    let framing = LinkError::from_read(FramingError::BadHeader);
    assert!(matches!(framing, LinkError::Framing(_)), "{framing:?}");
    for e in [
        eof,
        reset,
        framing,
        LinkError::Stalled,
        LinkError::Connect(io::ErrorKind::ConnectionRefused.into()),
    ] {
        assert_eq!(e.disposition(), Disposition::CloseLink, "{e}");
        assert_eq!((e.side(), e.retry()), (Side::Peer, Retry::Safe), "{e}");
    }
}

#[test]
fn a_socket_that_never_became_a_link_is_refused() {
    for e in [
        LinkError::Handshake(Refused::TimedOut),
        LinkError::Handshake(Refused::Silent),
        LinkError::Handshake(Refused::Other("not TLS".into())),
        LinkError::LinkFull { max: 4 },
    ] {
        assert_eq!(
            (e.disposition(), e.retry()),
            (Disposition::Refuse, Retry::Safe),
            "{e}"
        );
    }
    // A refused certificate fails again until someone changes it.
    for e in [
        LinkError::Handshake(Refused::Certificate("expired".into())),
        LinkError::Handshake(Refused::Identity(vec!["x.example".into()])),
    ] {
        assert_eq!(
            (e.disposition(), e.retry()),
            (Disposition::Refuse, Retry::Unsafe),
            "{e}"
        );
    }
    for e in [
        NoFrame::Silent,
        NoFrame::TimedOut,
        NoFrame::Stalled,
        NoFrame::Closed,
    ] {
        assert_eq!(e.disposition(), Disposition::Refuse, "{e}");
    }
}

#[test]
fn a_malformed_request_is_answered_30_anything_else_dropped() {
    let error = codecs::DecodeError {
        location: codecs::Location::Field(4),
        reason: codecs::Reason::Truncated,
    };
    let decode = |mti: Option<Mti>| MessageError::Decode {
        error,
        mti,
        stan: Some(7),
    };
    let request = decode(Some(Mti::FINANCIAL_REQUEST));
    assert_eq!(request.disposition(), answer(ResponseCode::FORMAT_ERROR));
    assert_eq!(
        (request.side(), request.retry()),
        (Side::Peer, Retry::Unsafe)
    );
    assert_eq!(
        decode(Some(Mti::FINANCIAL_RESPONSE)).disposition(),
        Disposition::DropMessage
    );
    assert_eq!(decode(None).disposition(), Disposition::DropMessage);
}

#[test]
fn a_message_that_does_not_encode_for_its_link_is_not_sent() {
    let error = codecs::EncodeError {
        location: codecs::Location::Field(48),
        reason: codecs::Reason::TooLarge,
    };
    let request = MessageError::Encode {
        error,
        mti: Mti::FINANCIAL_REQUEST,
    };
    // A forwarded request left unsent: its deadline answers 91 and reverses.
    assert_eq!(request.disposition(), Disposition::TimeOut);
    assert_eq!(request.side(), Side::Switch);
    let response = MessageError::Seal {
        error: SealError::Tertiary,
        mti: Mti::FINANCIAL_RESPONSE,
    };
    assert_eq!(response.disposition(), Disposition::DropMessage);
    // A module that could not seal may do it next time.
    let unavailable = MessageError::Seal {
        error: SealError::Module(SecurityError::Unavailable("timeout".into())),
        mti: Mti::FINANCIAL_RESPONSE,
    };
    assert_eq!(unavailable.retry(), Retry::Safe);
}

#[test]
fn a_bad_mac_is_answered_63_on_a_request_and_dropped_on_an_answer() {
    for failure in [
        MacFailure::Missing(64),
        MacFailure::Misplaced(128),
        MacFailure::Mismatch(64),
    ] {
        assert_eq!(
            failure.disposition(),
            answer(ResponseCode::SECURITY_VIOLATION)
        );
        assert_eq!(failure.disposition().given(false), Disposition::DropMessage);
        assert_eq!(
            (failure.side(), failure.retry()),
            (Side::Peer, Retry::Unsafe)
        );
    }
    let unchecked = MacFailure::Module(SecurityError::Unavailable("down".into()));
    assert_eq!(
        unchecked.disposition(),
        answer(ResponseCode::SECURITY_VIOLATION)
    );
    assert_eq!(
        (unchecked.side(), unchecked.retry()),
        (Side::Switch, Retry::Safe)
    );
}

#[test]
fn pin_translation_failures_have_their_response_codes() {
    let cases = [
        (
            SecurityError::PinBlock(PinBlockError::Pan),
            "30",
            Side::Peer,
            Retry::Unsafe,
        ),
        (
            SecurityError::PinBlock(PinBlockError::Length {
                format: "ISO-0",
                expected: 8,
                got: 7,
            }),
            "30",
            Side::Peer,
            Retry::Unsafe,
        ),
        (
            SecurityError::PinBlock(PinBlockError::Invalid("ISO-0")),
            "81",
            Side::Peer,
            Retry::Unsafe,
        ),
        (
            SecurityError::Unavailable("timeout".into()),
            "91",
            Side::Switch,
            Retry::Safe,
        ),
        (
            SecurityError::NoKey {
                zone: "acq".into(),
                purpose: "PIN",
            },
            "96",
            Side::Configuration,
            Retry::Unsafe,
        ),
    ];
    for (e, rc, side, retry) in cases {
        assert_eq!(
            e.disposition(),
            answer(ResponseCode::new(rc).unwrap()),
            "{e}"
        );
        assert_eq!((e.side(), e.retry()), (side, retry), "{e}");
    }
}

#[test]
fn store_configuration_and_start_failures_are_fatal() {
    let store = StoreError::Open {
        path: PathBuf::from("/nowhere/journal.db"),
        message: "unable to open".into(),
    };
    assert_eq!(store.disposition(), Disposition::Fatal);
    let config = ConfigError {
        file: "switch.toml".into(),
        entry: "link acq".into(),
        message: "address missing".into(),
    };
    assert_eq!(
        (config.disposition(), config.side()),
        (Disposition::Fatal, Side::Configuration)
    );
    let starts = [
        StartError::MissingKey {
            link: "acq".into(),
            module: "software".into(),
            purpose: "MAC",
        },
        StartError::JournalKeyMissing,
        StartError::Store(store),
        StartError::Tls {
            link: "iss".into(),
            source: TlsSetupError::NotLoaded,
        },
        StartError::Listen {
            link: "acq".into(),
            address: "127.0.0.1:1".parse().unwrap(),
            source: io::ErrorKind::AddrInUse.into(),
        },
    ];
    for e in starts {
        assert_eq!(e.disposition(), Disposition::Fatal, "{e}");
    }
}

/// The texts tests and operators match on are kept.
#[test]
fn start_errors_keep_their_messages() {
    let missing = StartError::MissingKey {
        link: "acq".into(),
        module: "software".into(),
        purpose: "MAC",
    };
    assert_eq!(
        missing.to_string(),
        "link acq: the software security module has no MAC key for it"
    );
    assert!(StartError::JournalKeyMissing
        .to_string()
        .contains("pan_key"));
    let listen = StartError::Listen {
        link: "acq".into(),
        address: "127.0.0.1:1".parse().unwrap(),
        source: io::Error::new(io::ErrorKind::AddrInUse, "in use"),
    };
    assert_eq!(
        listen.to_string(),
        "link acq: cannot listen on 127.0.0.1:1: in use"
    );
}

/// A request carrying a PAN, broken in a later field: the decode error (and
/// the message error around it) names the field, never the PAN.
#[test]
fn a_decode_error_never_shows_the_pan() {
    let spec = Spec::builtin("iso87ascii").unwrap();
    let mut msg = Message::new(Mti::FINANCIAL_REQUEST);
    msg.set(2, PAN);
    msg.set(3, "000000");
    msg.set(4, "000000001500");
    msg.set_stan(42);
    let frame = spec.encode_to_bytes(&msg).unwrap();
    // Field 4 (amount, n 12) gets a letter: the PAN before it decodes fine.
    let text = String::from_utf8(frame.to_vec()).unwrap();
    let broken = text.replacen("000000001500", "00000000150X", 1);
    let error = spec.decode(Bytes::from(broken.clone())).unwrap_err();
    let (mti, stan) = spec
        .peek_mti_and_stan(broken.as_bytes())
        .map_or((None, None), |(m, s)| (Some(m), s));
    let e = MessageError::Decode { error, mti, stan };
    assert_eq!(e.disposition(), answer(ResponseCode::FORMAT_ERROR));
    assert!(e.to_string().contains("field 4"), "{e}");
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(&PAN[..6]), "{shown}");
        assert!(!shown.contains(PAN), "{shown}");
    }
}
