//! What may be stored about a contact: attributes (compared by routing rules) and tags, with the limits the API
//! and the CSV import share; and how a value typed into a spreadsheet cell or a form becomes an attribute.

use serde_json::{Map, Value};

/// The most attributes one contact carries.
pub const MAX_ATTRIBUTES: usize = 50;
/// The most tags one contact carries.
pub const MAX_TAGS: usize = 50;

/// Why a contact's attributes or tags cannot be stored: the field at fault (`attributes.tier`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub field: String,
    pub message: &'static str,
}

fn refused(field: impl Into<String>, message: &'static str) -> Refused {
    Refused { field: field.into(), message }
}

/// At most 50 attributes, named by 1 to 64 characters, each a text (≤ 1,000 characters), number, boolean or null.
pub fn check_attributes(attributes: &Map<String, Value>) -> Result<(), Refused> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(refused("attributes", "at most 50 attributes"));
    }
    for (k, v) in attributes {
        if k.is_empty() || k.chars().count() > 64 {
            return Err(refused("attributes", "attribute names are 1 to 64 characters"));
        }
        match v {
            Value::String(s) if s.chars().count() > 1000 => {
                return Err(refused(format!("attributes.{k}"), "text values are at most 1,000 characters"))
            }
            Value::Object(_) | Value::Array(_) => {
                return Err(refused(format!("attributes.{k}"), "values are text, numbers, booleans or null"))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Tags trimmed, each once in the order given: at most 50, of 1 to 50 characters.
pub fn tags(given: impl IntoIterator<Item = String>) -> Result<Vec<String>, Refused> {
    let mut out: Vec<String> = Vec::new();
    for t in given {
        let t = t.trim().to_owned();
        if t.is_empty() || t.chars().count() > 50 {
            return Err(refused("tags", "at most 50 tags of 1 to 50 characters"));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(refused("tags", "at most 50 tags of 1 to 50 characters"));
    }
    Ok(out)
}

/// A cell's text as an attribute value: empty is no value (the attribute is removed), `true` / `false` are
/// booleans, a plain decimal number is a number, anything else is text as written.
pub fn attribute_from_text(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let numeric = t.strip_prefix('-').unwrap_or(t);
    if !numeric.is_empty()
        && numeric.chars().all(|c| c.is_ascii_digit() || c == '.')
        && numeric.matches('.').count() <= 1
        && !numeric.starts_with('.')
        && !numeric.ends_with('.')
        && !(numeric.len() > 1 && numeric.starts_with('0') && !numeric.starts_with("0."))
    {
        if let Ok(n) = t.parse::<serde_json::Number>() {
            return Some(Value::Number(n));
        }
    }
    Some(Value::String(t.to_owned()))
}

/// An attribute value as a spreadsheet cell: what [`attribute_from_text`] reads back as the same value.
pub fn attribute_to_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_cell_reads_as_a_boolean_a_plain_number_or_text_and_an_empty_cell_as_no_value() {
        assert_eq!(attribute_from_text(""), None);
        assert_eq!(attribute_from_text("  "), None);
        assert_eq!(attribute_from_text("true"), Some(json!(true)));
        assert_eq!(attribute_from_text("42"), Some(json!(42)));
        assert_eq!(attribute_from_text("-3.5"), Some(json!(-3.5)));
        assert_eq!(attribute_from_text("gold"), Some(json!("gold")));
        // Things that look numeric but are identifiers stay text: leading zeros, phone numbers, versions.
        assert_eq!(attribute_from_text("007"), Some(json!("007")));
        assert_eq!(attribute_from_text("+31612345678"), Some(json!("+31612345678")));
        assert_eq!(attribute_from_text("1.2.3"), Some(json!("1.2.3")));
        assert_eq!(attribute_from_text("1e5"), Some(json!("1e5")));
    }

    #[test]
    fn every_value_survives_a_trip_through_a_cell_except_text_that_reads_as_a_number_or_boolean() {
        for v in [json!("gold"), json!(42), json!(-3.5), json!(true), json!(false), json!("007"), json!(0.5)] {
            assert_eq!(attribute_from_text(&attribute_to_text(&v)), Some(v.clone()), "{v}");
        }
        // A cell has no type: the text "0.5" or "true" comes back as what it reads as.
        assert_eq!(attribute_from_text(&attribute_to_text(&json!("0.5"))), Some(json!(0.5)));
        assert_eq!(attribute_from_text(&attribute_to_text(&json!("true"))), Some(json!(true)));
    }

    #[test]
    fn attributes_are_limited_in_number_name_and_shape_and_the_field_names_the_one_at_fault() {
        let mut m = Map::new();
        m.insert("tier".into(), json!("gold"));
        assert_eq!(check_attributes(&m), Ok(()));
        m.insert("nested".into(), json!({"a": 1}));
        assert_eq!(check_attributes(&m).unwrap_err().field, "attributes.nested");
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(check_attributes(&many).unwrap_err().field, "attributes");
    }

    #[test]
    fn tags_are_trimmed_kept_once_and_limited() {
        assert_eq!(tags(["vip ".into(), "vip".into(), "b2b".into()]).unwrap(), ["vip", "b2b"]);
        assert!(tags(["  ".to_owned()]).is_err());
        assert!(tags((0..51).map(|i| format!("t{i}"))).is_err());
    }
}
