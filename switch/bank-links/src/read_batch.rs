//! Taking the frames a reader already holds, without waiting for more: a MAC
//! link's reader handles them as a batch, so that their MACs are computed
//! together (the switch's connections and the issuer simulator's both do).

use bytes::Bytes;
use codecs::framing::Frame;
use futures_util::{FutureExt, Stream, StreamExt};

/// Most frames taken together.
pub const READ_BATCH: usize = 32;

/// What a reader gave after a batch that was not a frame (an error, the end of
/// the stream): to be handled next, as if just read.
pub type AfterBatch<E> = Option<Option<Result<Frame, E>>>;

/// `first` and the frame bodies `reader` yields at once after it (keep-alives
/// skipped), [`READ_BATCH`] at most, and whatever else it yielded at once after
/// them ([`AfterBatch`]).
pub fn gather_ready<S, E>(reader: &mut S, first: Bytes) -> (Vec<Bytes>, AfterBatch<E>)
where
    S: Stream<Item = Result<Frame, E>> + Unpin,
{
    let mut bodies = vec![first];
    while bodies.len() < READ_BATCH {
        match reader.next().now_or_never() {
            Some(Some(Ok(Frame::Message { body, .. }))) => bodies.push(body),
            Some(Some(Ok(Frame::KeepAlive))) => {}
            Some(other) => return (bodies, Some(other)),
            None => break,
        }
    }
    (bodies, None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures_util::stream;

    fn message(b: &'static [u8]) -> Result<Frame, String> {
        Ok(Frame::Message {
            tpdu: None,
            body: Bytes::from_static(b),
        })
    }

    #[test]
    fn takes_what_is_ready_and_keeps_what_follows() {
        // Ready frames, a keep-alive among them, then an error: the error is kept
        // for later, not lost.
        let items = vec![
            message(b"b"),
            Ok(Frame::KeepAlive),
            message(b"c"),
            Err("bad frame".to_string()),
            message(b"d"),
        ];
        let mut reader = stream::iter(items);
        let (bodies, after) = gather_ready(&mut reader, Bytes::from_static(b"a"));
        assert_eq!(bodies, [&b"a"[..], b"b", b"c"]);
        assert!(matches!(after, Some(Some(Err(e))) if e == "bad frame"));
        // The end of the stream is kept too.
        let mut reader = stream::iter(vec![message(b"b")]);
        let (bodies, after) = gather_ready(&mut reader, Bytes::from_static(b"a"));
        assert_eq!(bodies.len(), 2);
        assert!(matches!(after, Some(None)));
        // Nothing ready yet: the batch is the first frame alone.
        let mut reader = stream::pending::<Result<Frame, String>>();
        let (bodies, after) = gather_ready(&mut reader, Bytes::from_static(b"a"));
        assert_eq!(bodies.len(), 1);
        assert!(after.is_none());
        // At most READ_BATCH.
        let mut reader = stream::iter((0..100).map(|_| message(b"x")));
        let (bodies, after) = gather_ready(&mut reader, Bytes::from_static(b"a"));
        assert_eq!(bodies.len(), READ_BATCH);
        assert!(after.is_none());
    }
}
