//! JSON bodies written exactly: prices and sizes are JSON **numbers** printed from `Decimal`s
//! (never through `f64`), so the number on the wire is the one that was signed (× 10^6).

use rust_decimal::Decimal;

/// Builds one JSON object, field by field.
#[derive(Debug, Default)]
pub struct Obj {
    out: String,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        Obj {
            out: String::from("{"),
        }
    }

    fn key(&mut self, k: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push_str(&quote(k));
        self.out.push(':');
    }

    /// A string field.
    pub fn str(mut self, k: &str, v: &str) -> Obj {
        self.key(k);
        self.out.push_str(&quote(v));
        self
    }

    /// A number field from an exact decimal (normalised: `65000`, `0.0015`).
    pub fn num(mut self, k: &str, v: Decimal) -> Obj {
        self.key(k);
        self.out.push_str(&v.normalize().to_string());
        self
    }

    /// An integer field.
    pub fn int(mut self, k: &str, v: u64) -> Obj {
        self.key(k);
        self.out.push_str(&v.to_string());
        self
    }

    /// A boolean field.
    pub fn bool(mut self, k: &str, v: bool) -> Obj {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// A `null` field.
    pub fn null(mut self, k: &str) -> Obj {
        self.key(k);
        self.out.push_str("null");
        self
    }

    /// A field holding JSON text already written (an object or array built here).
    pub fn raw(mut self, k: &str, json: &str) -> Obj {
        self.key(k);
        self.out.push_str(json);
        self
    }

    /// The JSON text.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON array of JSON texts.
pub fn array<I: IntoIterator<Item = String>>(items: I) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// A JSON array of strings.
pub fn str_array<'a, I: IntoIterator<Item = &'a str>>(items: I) -> String {
    array(items.into_iter().map(quote))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn numbers_are_exact_json_numbers() {
        let o = Obj::new()
            .str("a", "x\"y")
            .num("p", dec!(65000.50))
            .num("s", dec!(0.0015))
            .bool("b", true)
            .null("t")
            .finish();
        assert_eq!(
            o,
            r#"{"a":"x\"y","p":65000.5,"s":0.0015,"b":true,"t":null}"#
        );
        let v: serde_json::Value = serde_json::from_str(&o).unwrap();
        assert!(v["p"].is_number());
        assert_eq!(array([o.clone()]), format!("[{o}]"));
    }
}
