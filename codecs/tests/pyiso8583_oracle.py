"""Oracle for the differential tests: pyiso8583 4.0.1 encodes and decodes.

Reads JSON lines {"mti": "...", "fields": {"2": "...", ...}, "rust_hex": "..."} on
stdin; for each writes {"py_hex": "...", "py_decoded": {...}} (or {"error": "..."})
on stdout: py_hex is pyiso8583's encoding of the fields, py_decoded its decoding of
the Rust encoder's bytes. Usage: pyiso8583_oracle.py default_ascii|default|default_cp500

default_cp500 is pyiso8583's `default` spec with every text field, the MTI and
every length prefix encoded with Python's `cp500` codec (EBCDIC), binary data
and bitmaps left raw: the layout of our `iso87ebcdic`.
"""

import json
import sys

import iso8583
from iso8583 import specs


def cp500(base: dict) -> dict:
    """`base` with its text and length prefixes in EBCDIC (code page 500)."""
    spec = {}
    for key, field in base.items():
        field = dict(field)
        if field["data_enc"] != "b":
            field["data_enc"] = "cp500"
        field["len_enc"] = "cp500"
        spec[key] = field
    return spec


def main() -> None:
    name = sys.argv[1]
    spec = cp500(specs.default) if name == "default_cp500" else getattr(specs, name)
    for line in sys.stdin:
        item = json.loads(line)
        doc = dict(item["fields"])
        doc["t"] = item["mti"]
        try:
            encoded, _ = iso8583.encode(doc, spec)
            decoded, _ = iso8583.decode(bytes.fromhex(item["rust_hex"]), spec)
            out = {"py_hex": encoded.hex().upper(), "py_decoded": decoded}
        except Exception as exc:  # reported to the Rust side, which fails the test
            out = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
