//! Loading a host's dialect from a TOML or JSON spec file.
//!
//! ```toml
//! name = "acme-host"
//! base = "iso87binary"        # optional: start from a built-in spec
//! header_len = 0              # optional fixed header in front of the MTI
//! mti = "ascii"               # ascii | ebcdic | bcd (required without a base)
//! bitmap = "binary"           # binary | hex      (required without a base)
//!
//! [fields.2]
//! class = "n"                 # n a an ans ns x+n b z
//! prefix = "LL"               # fixed (default) | L | LL | LLL | LLLL
//! length = 19                 # the fixed length, or the maximum
//! prefix_encoding = "bcd"     # ascii (default) | ebcdic | bcd | binary
//! encoding = "bcd-left-pad"   # ascii | ebcdic | bcd-left-pad | bcd-right-pad | binary
//! sensitive = false
//! structure = "plain"         # plain (default) | ber-tlv (b fields: EMV tags)
//!                             # | positional | tlv | bitmap (composites, below)
//!
//! [fields.60]
//! remove = true               # drop a field inherited from the base
//! ```
//!
//! Composite fields ([`crate::composite`]) declare their subfields; each has a
//! `class`, a `length` (the fixed length, or the maximum), an optional
//! `prefix` (fixed, L, LL, LLL, LLLL: ASCII digits inside the value) and an
//! optional `mask` (none, length, pan):
//!
//! ```toml
//! [fields.3]                  # positional: in a row, named
//! class = "n"
//! length = 6
//! structure = "positional"
//! subfields = [
//!   { name = "type", class = "n", length = 2 },
//!   { name = "from", class = "n", length = 2 },
//!   { name = "to", class = "n", length = 2 },
//! ]
//!
//! [fields.48]                 # tlv: tag, length digits, value
//! class = "ans"
//! prefix = "LLL"
//! length = 999
//! structure = "tlv"
//! tag_length = 2              # 2 or 3 characters
//! length_digits = 3           # 2 or 3 digits
//! strict = false              # true: refuse undeclared tags (default: keep them)
//! tags.01 = { class = "ans", length = 20, name = "merchant reference" }
//! tags.92 = { class = "n", length = 3, mask = "length" }
//!
//! [fields.127]                # bitmap: its own bitmap, subfields 1-64
//! class = "b"
//! prefix = "LLL"
//! length = 999
//! structure = "bitmap"
//! bitmap = "binary"           # binary (8 bytes, b fields) | hex (16 characters)
//! bits.2 = { class = "ans", prefix = "LL", length = 32, name = "switch key" }
//! bits.3 = { class = "n", length = 6, name = "routing" }
//! ```
//!
//! Unknown keys are rejected, and every problem names the file and the field.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::{
    builtin, BitmapEncoding, ContentClass, DataEncoding, FieldSpec, Length, MtiEncoding,
    PrefixEncoding, Spec, Structure, MAX_FIELD,
};
use crate::composite::{BitmapLayout, Composite, Mask, SubTag, Subfield, TlvLayout};
use crate::error::SpecError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    base: Option<String>,
    header_len: Option<usize>,
    mti: Option<MtiEncoding>,
    bitmap: Option<BitmapEncoding>,
    #[serde(default)]
    fields: BTreeMap<String, FieldEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldEntry {
    #[serde(default)]
    remove: bool,
    class: Option<ContentClass>,
    prefix: Option<String>,
    length: Option<u16>,
    prefix_encoding: Option<PrefixEncoding>,
    encoding: Option<DataEncoding>,
    pad_nibble: Option<u8>,
    sensitive: Option<bool>,
    structure: Option<StructureName>,
    description: Option<String>,
    /// Positional subfields, in order.
    subfields: Option<Vec<SubfieldEntry>>,
    /// TLV subelements by tag.
    tags: Option<BTreeMap<String, SubfieldEntry>>,
    tag_length: Option<u8>,
    length_digits: Option<u8>,
    strict: Option<bool>,
    /// Bitmapped subfields by number.
    bits: Option<BTreeMap<String, SubfieldEntry>>,
    bitmap: Option<BitmapEncoding>,
}

impl FieldEntry {
    /// Whether any key of a composite layout is given.
    fn has_composite_keys(&self) -> bool {
        self.subfields.is_some()
            || self.tags.is_some()
            || self.tag_length.is_some()
            || self.length_digits.is_some()
            || self.strict.is_some()
            || self.bits.is_some()
            || self.bitmap.is_some()
    }
}

/// `structure` as written.
#[derive(Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum StructureName {
    Plain,
    BerTlv,
    Positional,
    Tlv,
    Bitmap,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubfieldEntry {
    name: Option<String>,
    class: ContentClass,
    length: u16,
    prefix: Option<String>,
    #[serde(default)]
    mask: Mask,
}

/// Read and validate a spec file (`.json` is parsed as JSON, anything else as TOML).
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: shown.clone(),
        source,
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&text, is_json, &shown)
}

/// Parse and validate spec text; `origin` names the source in errors.
pub fn parse(text: &str, is_json: bool, origin: &str) -> Result<Spec, SpecError> {
    let syntax = |message: String| SpecError::Syntax {
        path: origin.to_string(),
        message,
    };
    let file: SpecFile = if is_json {
        serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?
    } else {
        toml::from_str(text).map_err(|e| syntax(e.to_string()))?
    };
    let invalid = |entry: &str, problem: String| SpecError::Invalid {
        path: origin.to_string(),
        entry: entry.to_string(),
        problem,
    };

    let mut spec = match &file.base {
        Some(base) => {
            let mut spec = (*builtin::by_name(base)
                .map_err(|_| invalid("base", format!("unknown built-in spec {base:?}")))?)
            .clone();
            spec.name = file.name.clone();
            if let Some(mti) = file.mti {
                spec.mti = mti;
            }
            if let Some(bitmap) = file.bitmap {
                spec.bitmap = bitmap;
            }
            spec
        }
        None => {
            let mti = file
                .mti
                .ok_or_else(|| invalid("mti", "missing (no base)".into()))?;
            let bitmap = file
                .bitmap
                .ok_or_else(|| invalid("bitmap", "missing (no base)".into()))?;
            Spec::new(file.name.clone(), mti, bitmap)
        }
    };
    if let Some(h) = file.header_len {
        spec.header_len = h;
    }

    for (key, entry) in &file.fields {
        let entry_name = format!("field {key}");
        let n: u8 = key
            .parse()
            .ok()
            .filter(|n| (2..=MAX_FIELD).contains(n) && *n != 65)
            .ok_or_else(|| {
                invalid(
                    &entry_name,
                    "not a data field number (2-192, except 65)".into(),
                )
            })?;
        if entry.remove {
            spec.remove_field(n);
            continue;
        }
        let field = build_field(entry, spec.field(n)).map_err(|p| invalid(&entry_name, p))?;
        spec.set_field(n, field);
    }
    spec.validate(origin)?;
    Ok(spec)
}

/// Merge an entry over the inherited definition (if any) into a full field spec.
fn build_field(entry: &FieldEntry, inherited: Option<&FieldSpec>) -> Result<FieldSpec, String> {
    let class = entry
        .class
        .or(inherited.map(|f| f.class))
        .ok_or("missing `class`")?;
    let length_value = match (entry.length, inherited) {
        (Some(l), _) => l,
        (None, Some(f)) => f.length.max(),
        (None, None) => return Err("missing `length`".into()),
    };
    let length = match entry.prefix.as_deref() {
        Some("fixed") => Length::Fixed(length_value),
        Some(p @ ("L" | "LL" | "LLL" | "LLLL")) => Length::Variable {
            digits: p.len() as u8,
            max: length_value,
        },
        Some(other) => {
            return Err(format!(
                "prefix {other:?} (expected fixed, L, LL, LLL or LLLL)"
            ))
        }
        None => match inherited.map(|f| f.length) {
            Some(Length::Variable { digits, .. }) => Length::Variable {
                digits,
                max: length_value,
            },
            _ => Length::Fixed(length_value),
        },
    };
    let default_encoding = if class == ContentClass::B {
        DataEncoding::Binary
    } else {
        DataEncoding::Ascii
    };
    Ok(FieldSpec {
        class,
        length,
        prefix: entry
            .prefix_encoding
            .or(inherited.map(|f| f.prefix))
            .unwrap_or(PrefixEncoding::Ascii),
        encoding: entry
            .encoding
            .or(inherited.map(|f| f.encoding))
            .unwrap_or(default_encoding),
        pad_nibble: entry
            .pad_nibble
            .or(inherited.map(|f| f.pad_nibble))
            .unwrap_or(0),
        sensitive: entry
            .sensitive
            .or(inherited.map(|f| f.sensitive))
            .unwrap_or(false),
        structure: match entry.structure {
            Some(name) => structure(name, entry)?,
            // Subfields without a `structure` would be dropped unseen.
            None if entry.has_composite_keys() => {
                return Err("subfields, tags or bits need a `structure`".into())
            }
            None => inherited.map(|f| f.structure.clone()).unwrap_or_default(),
        },
        description: match &entry.description {
            Some(d) => Cow::Owned(d.clone()),
            None => inherited.map_or(Cow::Borrowed(""), |f| f.description.clone()),
        },
    })
}

/// A prefix as written: `fixed`, `L`, `LL`, `LLL` or `LLLL` (None: fixed).
fn length_of(prefix: Option<&str>, value: u16) -> Result<Length, String> {
    match prefix {
        None | Some("fixed") => Ok(Length::Fixed(value)),
        Some(p @ ("L" | "LL" | "LLL" | "LLLL")) => Ok(Length::Variable {
            digits: p.len() as u8,
            max: value,
        }),
        Some(other) => Err(format!(
            "prefix {other:?} (expected fixed, L, LL, LLL or LLLL)"
        )),
    }
}

/// The field's structure, with its subfields for a composite; the keys of the
/// other kinds are refused.
fn structure(name: StructureName, entry: &FieldEntry) -> Result<Structure, String> {
    let given = [
        (
            "subfields",
            entry.subfields.is_some(),
            StructureName::Positional,
        ),
        ("tags", entry.tags.is_some(), StructureName::Tlv),
        ("tag_length", entry.tag_length.is_some(), StructureName::Tlv),
        (
            "length_digits",
            entry.length_digits.is_some(),
            StructureName::Tlv,
        ),
        ("strict", entry.strict.is_some(), StructureName::Tlv),
        ("bits", entry.bits.is_some(), StructureName::Bitmap),
        ("bitmap", entry.bitmap.is_some(), StructureName::Bitmap),
    ];
    if let Some((key, _, _)) = given.iter().find(|(_, set, kind)| *set && *kind != name) {
        return Err(format!("`{key}` does not belong to this structure"));
    }
    let sub = |what: String, e: &SubfieldEntry, length: Length| -> Result<Subfield, String> {
        Ok(Subfield {
            name: e.name.clone().unwrap_or(what),
            class: e.class,
            length,
            mask: e.mask,
        })
    };
    let composite = match name {
        StructureName::Plain => return Ok(Structure::Plain),
        StructureName::BerTlv => return Ok(Structure::BerTlv),
        StructureName::Positional => {
            let entries = entry.subfields.as_deref().ok_or("missing `subfields`")?;
            let mut subs = Vec::with_capacity(entries.len());
            for (i, e) in entries.iter().enumerate() {
                let at = format!("subfield {}", i + 1);
                let name = e.name.clone().ok_or(format!("{at}: missing `name`"))?;
                let length =
                    length_of(e.prefix.as_deref(), e.length).map_err(|p| format!("{at}: {p}"))?;
                subs.push(sub(name, e, length)?);
            }
            Composite::Positional(subs)
        }
        StructureName::Tlv => {
            let length_digits = entry.length_digits.ok_or("missing `length_digits`")?;
            let mut tags = Vec::new();
            for (text, e) in entry.tags.iter().flatten() {
                let tag = SubTag::new(text.as_bytes())
                    .ok_or(format!("tag {text:?}: not 2-3 letters or digits"))?;
                if e.prefix.is_some() {
                    return Err(format!(
                        "tag {text}: no `prefix` (the layout's length digits)"
                    ));
                }
                let length = Length::Variable {
                    digits: length_digits,
                    max: e.length,
                };
                tags.push((tag, sub(format!("tag {text}"), e, length)?));
            }
            Composite::Tlv(TlvLayout {
                tag_len: entry.tag_length.ok_or("missing `tag_length`")?,
                length_digits,
                strict: entry.strict.unwrap_or(false),
                tags,
            })
        }
        StructureName::Bitmap => {
            let mut subfields = Vec::new();
            for (key, e) in entry.bits.iter().flatten() {
                let n: u8 = key
                    .parse()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or(format!("bits.{key}: not a subfield number 1-64"))?;
                let length = length_of(e.prefix.as_deref(), e.length)
                    .map_err(|p| format!("subfield {n}: {p}"))?;
                subfields.push((n, sub(format!("subfield {n}"), e, length)?));
            }
            subfields.sort_by_key(|(n, _)| *n);
            Composite::Bitmap(BitmapLayout {
                bitmap: entry.bitmap.ok_or("missing `bitmap` (binary or hex)")?,
                subfields,
            })
        }
    };
    Ok(Structure::Composite(Arc::new(composite)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_file_can_extend_a_builtin() {
        let text = r#"
            name = "acme"
            base = "iso87binary"
            header_len = 2
            [fields.48]
            class = "ans"
            prefix = "LL"
            length = 50
            [fields.60]
            remove = true
        "#;
        let spec = parse(text, false, "acme.toml").unwrap();
        assert_eq!(spec.header_len, 2);
        assert_eq!(
            spec.field(48).unwrap().length,
            Length::Variable { digits: 2, max: 50 }
        );
        assert!(spec.field(60).is_none());
        assert_eq!(spec.field(2), builtin_field("iso87binary", 2).as_ref());
    }

    fn builtin_field(name: &str, n: u8) -> Option<FieldSpec> {
        builtin::by_name(name).unwrap().field(n).cloned()
    }

    #[test]
    fn a_bad_field_is_named_in_the_error() {
        let text = r#"
            name = "bad"
            mti = "ascii"
            bitmap = "hex"
            [fields.35]
            class = "z"
            prefix = "LL"
            length = 120
        "#;
        let err = parse(text, false, "bad.toml").unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains("field 35"),
            "{err}"
        );
        assert!(err.contains("120"), "{err}");
    }

    #[test]
    fn json_and_unknown_keys() {
        let json = r#"{"name":"j","mti":"bcd","bitmap":"binary",
            "fields":{"3":{"class":"n","length":6,"encoding":"bcd-left-pad"}}}"#;
        let spec = parse(json, true, "j.json").unwrap();
        assert_eq!(spec.field(3).unwrap().encoding, DataEncoding::BcdLeftPad);
        let typo = r#"{"name":"j","mti":"bcd","bitmap":"binary","fields":{"3":{"clas":"n"}}}"#;
        assert!(parse(typo, true, "j.json")
            .unwrap_err()
            .to_string()
            .contains("clas"));
        let bad_number = r#"{"name":"j","mti":"bcd","bitmap":"binary","fields":{"65":{"class":"b","length":8}}}"#;
        let err = parse(bad_number, true, "j.json").unwrap_err().to_string();
        assert!(err.contains("field 65"), "{err}");
        let bad_combo = r#"{"name":"j","mti":"bcd","bitmap":"binary","fields":{"43":{"class":"ans","length":40,"encoding":"bcd-left-pad"}}}"#;
        let err = parse(bad_combo, true, "j.json").unwrap_err().to_string();
        assert!(err.contains("field 43"), "{err}");
    }

    #[test]
    fn a_field_can_be_declared_ber_tlv() {
        let text = r#"
            name = "acme"
            base = "iso87binary"
            [fields.55]
            structure = "plain"
            [fields.62]
            class = "b"
            length = 255
            encoding = "binary"
            structure = "ber-tlv"
        "#;
        let spec = parse(text, false, "acme.toml").unwrap();
        assert!(!spec.tlv_fields().contains(55));
        assert!(spec.tlv_fields().contains(62));
        // Inherited: the base's field 55 is BER-TLV.
        let spec = parse("name = \"b\"\nbase = \"iso93ascii\"\n", false, "b.toml").unwrap();
        assert_eq!(spec.field(55).unwrap().structure, Structure::BerTlv);
        let bad = "name = \"c\"\nbase = \"iso87ascii\"\n[fields.48]\nstructure = \"ber-tlv\"\n";
        let err = parse(bad, false, "c.toml").unwrap_err().to_string();
        assert!(err.contains("field 48") && err.contains("ber-tlv"), "{err}");
    }
}
