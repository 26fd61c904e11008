//! The JSON form of a message used by the `iso8583` tool and tests:
//! `{"mti":"0200","fields":{"2":"...","3":"000000",...}}`.
//!
//! Keys are field numbers as decimal strings in ascending order; bitmaps are left
//! out; text fields are their characters and `b` fields uppercase hex. A BER-TLV
//! field (field 55) is an ordered list of its elements,
//! `[{"tag":"9F26","value":"..."},...]` (hex values; when masked, its card data
//! as [`crate::icc`] shows it), or, when it is not well-formed BER-TLV, a hex
//! string (masked: its length). A composite field ([`crate::composite`]) is
//! an object of its subfields by name (positional) or number (bitmapped), or
//! a list `[{"tag":"01","value":"..."},...]` (TLV), each subfield masked as
//! declared; when it breaks its layout, a string as any field. Rendering masks
//! card data unless asked not to. Either form of a BER-TLV or composite field
//! is read back.

use serde_json::{Map, Value};

use crate::composite::show::{is_binary, shown_value};
use crate::composite::{Composite, CompositeError, Key, SubTag};
use crate::content::{from_hex, to_hex};
use crate::error::{EncodeError, Location, Reason};
use crate::icc::masked_value;
use crate::mask::masked_text;
use crate::message::Message;
use crate::mti::Mti;
use crate::spec::{ContentClass, Spec};
use crate::tlv::{self, Tag};

/// Render a message as one line of JSON.
pub fn to_json(msg: &Message, masked: bool) -> String {
    let mut fields = Map::new();
    for field in msg.fields() {
        if let Some(Ok(list)) = msg
            .is_tlv(field.number())
            .then(|| msg.tlv(field.number()))
            .flatten()
        {
            let elements = list
                .iter()
                .map(|e| {
                    let value = if masked {
                        masked_value(e.tag, e.value)
                    } else {
                        to_hex(e.value)
                    };
                    let mut element = Map::new();
                    element.insert("tag".into(), Value::String(e.tag.to_string()));
                    element.insert("value".into(), Value::String(value));
                    Value::Object(element)
                })
                .collect();
            fields.insert(field.number().to_string(), Value::Array(elements));
            continue;
        }
        let hidden = masked && msg.is_sensitive(field.number());
        if let (Some(layout), false) = (msg.composite_layout(field.number()), hidden) {
            if let Ok(parts) = layout.read(field.number(), field.bytes()) {
                let rendered = composite_json(layout, &parts, field.is_binary(), masked);
                fields.insert(field.number().to_string(), rendered);
                continue;
            }
        }
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

/// A composite field's subfields as JSON (see the module doc).
fn composite_json(
    layout: &Composite,
    parts: &crate::composite::Parts<'_>,
    in_binary: bool,
    masked: bool,
) -> Value {
    let shown = |key: Key, value: &[u8]| {
        Value::String(shown_value(layout.subfield(key), in_binary, value, masked))
    };
    if let Composite::Tlv(_) = layout {
        let list = parts
            .iter()
            .map(|(key, value)| {
                let mut element = Map::new();
                element.insert("tag".into(), Value::String(layout.label(key)));
                element.insert("value".into(), shown(key, value));
                Value::Object(element)
            })
            .collect();
        return Value::Array(list);
    }
    let object = parts
        .iter()
        .map(|(key, value)| (layout.label(key), shown(key, value)))
        .collect();
    Value::Object(object)
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
    /// A composite field's subfield is not valid under its layout.
    #[error(transparent)]
    Subfield(#[from] CompositeError),
}

impl JsonError {
    /// The field number the error is about, if any.
    pub fn field(&self) -> Option<u8> {
        match self {
            JsonError::Field(e) => e.location.field_number(),
            JsonError::Subfield(e) => Some(e.field),
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
    msg.use_composites_of(spec);
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
        let field_spec = spec
            .field(n)
            .ok_or(EncodeError::new(at, Reason::UndefinedField))?;
        let structured = value.is_array() || value.is_object();
        if let (Some(layout), true) = (spec.composite(n), structured) {
            let in_binary = field_spec.class == ContentClass::B;
            let bytes = composite_from_json(n, layout, value, in_binary)?;
            if in_binary {
                msg.set_binary(n, &bytes);
            } else {
                let text = String::from_utf8(bytes)
                    .map_err(|_| EncodeError::new(at, Reason::BadCharacter { position: 0 }))?;
                msg.set(n, &text);
            }
            continue;
        }
        if let Some(elements) = value.as_array() {
            if field_spec.class != ContentClass::B {
                return Err(JsonError::Shape(format!(
                    "field {n}: a list of tags needs a b field"
                )));
            }
            msg.set_binary(n, &tlv_from_json(n, elements)?);
            continue;
        }
        let text = value.as_str().ok_or_else(|| {
            JsonError::Shape(format!("field {n} must be a string or a list of tags"))
        })?;
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

/// A composite field's value from its JSON object or list (see the module doc).
fn composite_from_json(
    n: u8,
    layout: &Composite,
    value: &Value,
    in_binary: bool,
) -> Result<Vec<u8>, JsonError> {
    let shape = |what: String| JsonError::Shape(format!("field {n}: {what}"));
    let pairs: Vec<(&str, &Value)> = match (layout, value) {
        (Composite::Tlv(_), Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let tag = e.get("tag").and_then(Value::as_str);
                match (tag, e.get("value")) {
                    (Some(tag), Some(v)) => Ok((tag, v)),
                    _ => Err(shape(format!("element {i} needs \"tag\" and \"value\""))),
                }
            })
            .collect::<Result<_, _>>()?,
        (Composite::Tlv(_), _) => return Err(shape("a TLV composite is a list of tags".into())),
        (_, Value::Object(map)) => map.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        _ => return Err(shape("an object of subfields".into())),
    };
    let mut owned: Vec<(Key, Vec<u8>)> = Vec::with_capacity(pairs.len());
    for (label, v) in pairs {
        let key = layout.key_of(label).ok_or_else(|| match layout {
            Composite::Tlv(_) if SubTag::new(label.as_bytes()).is_none() => {
                shape(format!("tag {label:?} is not 2-3 letters or digits"))
            }
            _ => shape(format!("no subfield {label:?}")),
        })?;
        let text = v
            .as_str()
            .ok_or_else(|| shape(format!("subfield {label:?} must be a string")))?;
        let bytes = if is_binary(layout.subfield(key), in_binary) {
            from_hex(text.as_bytes())
                .ok_or_else(|| shape(format!("subfield {label:?} must be hex")))?
        } else {
            text.as_bytes().to_vec()
        };
        owned.push((key, bytes));
    }
    let parts: Vec<(Key, &[u8])> = owned.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    Ok(layout.write(n, &parts)?)
}

/// A BER-TLV field from its JSON list of `{"tag": HEX, "value": HEX}` objects.
fn tlv_from_json(n: u8, elements: &[Value]) -> Result<Vec<u8>, JsonError> {
    let shape = |i: usize, what: &str| JsonError::Shape(format!("field {n} element {i}: {what}"));
    let mut out = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        let text = |key: &str| element.get(key).and_then(Value::as_str);
        let tag = text("tag")
            .and_then(Tag::parse_hex)
            .ok_or_else(|| shape(i, "\"tag\" must be one BER tag in hex (1-4 bytes)"))?;
        let value = text("value")
            .and_then(|v| from_hex(v.as_bytes()))
            .ok_or_else(|| shape(i, "\"value\" must be hex"))?;
        tlv::encode_element(tag, &value, &mut out)
            .map_err(|e| JsonError::Shape(e.in_field(n).to_string()))?;
    }
    Ok(out)
}
