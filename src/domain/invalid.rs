//! A value a caller gave that breaks a rule: the field at fault, as the API names it, and why, in words. The
//! API answers it as 422 `invalid_field` with `details.field` (`From<Invalid> for AppError`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
