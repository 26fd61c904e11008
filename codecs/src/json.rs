//! The JSON form of a message used by the `iso8583` tool and tests:
//! `{"mti":"0200","fields":{"2":"...","3":"000000",...}}`.
//!
//! Keys are field numbers as decimal strings in ascending order; bitmaps are left
//! out; text fields are their characters and `b` fields uppercase hex. Rendering
//! masks card data unless asked not to.

use serde_json::{Map, Value};

use crate::content::from_hex;
use crate::error::{EncodeError, Location, Reason};
use crate::mask::masked_text;
use crate::message::Message;
use crate::mti::Mti;
use crate::spec::{ContentClass, Spec};

/// Render a message as one line of JSON.
pub fn to_json(msg: &Message, masked: bool) -> String {
    let mut fields = Map::new();
    for field in msg.fields() {
        let text = if masked {
            masked_text(msg, &field)
        } else {
            field.text()
        };
        fields.insert(field.number().to_string(), Value::String(text.into_owned()));
    }
    let mut obj = Map::new();
    obj.insert("mti".into(), Value::String(msg.mti().as_str().to_string()));
    obj.insert("fields".into(), Value::Object(fields));
    Value::Object(obj).to_string()
}

/// Why a JSON object is not a message.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, or not the expected shape.
    #[error("{0}")]
    Shape(String),
    /// A field is not valid under the spec.
    #[error(transparent)]
    Field(#[from] EncodeError),
}

impl JsonError {
    /// The field number the error is about, if any.
    pub fn field(&self) -> Option<u8> {
        match self {
            JsonError::Field(e) => e.location.field_number(),
            JsonError::Shape(_) => None,
        }
    }
}

/// Build a message from its JSON form; `b` fields (per `spec`) are hex text.
pub fn from_json(value: &Value, spec: &Spec) -> Result<Message, JsonError> {
    let shape = |m: &str| JsonError::Shape(m.to_string());
    let obj = value
        .as_object()
        .ok_or_else(|| shape("expected a JSON object"))?;
    let mti = obj
        .get("mti")
        .and_then(Value::as_str)
        .ok_or_else(|| shape("missing \"mti\" string"))?;
    let mut msg = Message::new(Mti::parse(mti)?);
    let empty = Map::new();
    let fields = match obj.get("fields") {
        None => &empty,
        Some(v) => v
            .as_object()
            .ok_or_else(|| shape("\"fields\" must be an object"))?,
    };
    for (key, value) in fields {
        let n: u8 = key
            .parse()
            .ok()
            .filter(|n| (1..=crate::spec::MAX_FIELD).contains(n))
            .ok_or_else(|| JsonError::Shape(format!("field key {key:?} is not 1-192")))?;
        if n == 1 || n == 65 {
            continue; // bitmaps are computed
        }
        let at = Location::Field(n);
        let text = value
            .as_str()
            .ok_or_else(|| JsonError::Shape(format!("field {n} must be a string")))?;
        let field_spec = spec
            .field(n)
            .ok_or(EncodeError::new(at, Reason::UndefinedField))?;
        if field_spec.class == ContentClass::B {
            let bytes = from_hex(text.as_bytes())
                .ok_or(EncodeError::new(at, Reason::BadCharacter { position: 0 }))?;
            msg.set_binary(n, &bytes);
        } else {
            msg.set(n, text);
        }
    }
    Ok(msg)
}
