//! Checks of request values that several resources share: names, word lists, tag lists, `PATCH` fields.

use crate::error::{AppError, AppResult};

/// For `PATCH` bodies: absent leaves a field as it is, `null` clears it, a value sets it.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A 1-to-`max`-character name, trimmed.
pub fn check_name(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(AppError::invalid_field(field, format!("{field} must be 1 to {max} characters")));
    }
    Ok(v.to_owned())
}

/// Skills or languages: 1-to-50-character words, at most 20, duplicates dropped.
pub fn check_words(field: &str, words: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for w in words {
        let w = w.trim();
        if w.is_empty() || w.chars().count() > 50 {
            return Err(AppError::invalid_field(field, format!("each of {field} is 1 to 50 characters")));
        }
        if !out.iter().any(|x| x.eq_ignore_ascii_case(w)) {
            out.push(w.to_owned());
        }
    }
    if out.len() > 20 {
        return Err(AppError::invalid_field(field, format!("at most 20 {field}")));
    }
    Ok(out)
}
