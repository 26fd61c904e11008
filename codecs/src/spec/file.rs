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
//!
//! [fields.60]
//! remove = true               # drop a field inherited from the base
//! ```
//!
//! Unknown keys are rejected, and every problem names the file and the field.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{
    iso87, BitmapEncoding, ContentClass, DataEncoding, FieldSpec, Length, MtiEncoding,
    PrefixEncoding, Spec, MAX_FIELD,
};
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
    description: Option<String>,
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
            let mut spec = (*iso87::builtin(base)
                .ok_or_else(|| invalid("base", format!("unknown built-in spec {base:?}")))?)
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
        description: match &entry.description {
            Some(d) => Cow::Owned(d.clone()),
            None => inherited.map_or(Cow::Borrowed(""), |f| f.description.clone()),
        },
    })
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
        iso87::builtin(name).unwrap().field(n).cloned()
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
}
