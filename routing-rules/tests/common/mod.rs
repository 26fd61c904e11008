//! What the stand-in tests share: a small network of two issuers (100: products
//! `debit` in KPW and USD, `gold` in KPW; 200: `other`) and an acquirer (300).

/// The network, without stand-in entries or negative files.
pub const BASE: &str = r#"
[[region]]
id = "cap"
kind = "capital"
[[bank]]
id = "100"
region = "cap"
roles = ["issuer", "acquirer"]
[[bank]]
id = "200"
region = "cap"
roles = ["issuer", "acquirer"]
[[bank]]
id = "300"
region = "cap"
roles = ["acquirer"]
[[product]]
id = "debit"
issuer = "100"
category = "national-debit"
currencies = ["408", "840"]
[[product]]
id = "gold"
issuer = "100"
category = "privileged"
currencies = ["408"]
[[product]]
id = "other"
issuer = "200"
category = "national-debit"
currencies = ["408"]
[[bin]]
low = "940800"
high = "940800"
product = "debit"
[[bin]]
low = "940801"
high = "940801"
product = "gold"
[[bin]]
low = "940802"
high = "940802"
product = "other"
"#;
