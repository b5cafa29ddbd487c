//! Paging and sorting, the same on every list: `cursor`, `limit`, `sort` and the list's own filters, read from
//! the query string; a page of results with the cursor of the next one.

use crate::error::AppError;
use crate::state::AppState;
use crate::store::listing::{Keyed, Listing, SortKey};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use serde::de::DeserializeOwned;

/// The filters a list accepts besides `cursor`, `limit` and `sort`, and the sorts it offers (the first is the
/// default). Filter structs deny unknown fields, so a misspelt filter is an error rather than ignored.
pub trait ListFilters: DeserializeOwned {
    const SORTS: &'static [SortKey];
    /// Whether the default sort is descending (newest first).
    const DESCENDING: bool = false;
}

/// A list request, the same on every list: `cursor` from the previous page, `limit` (1 to 200, default 50),
/// `sort` (a field name, `-` in front for descending), and the list's own filters.
pub struct List<F> {
    pub listing: Listing,
    pub filters: F,
}

fn invalid_query(message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_query", message)
}

impl<F: ListFilters> List<F> {
    fn parse(query: &str) -> Result<Self, AppError> {
        let (mut cursor, mut limit, mut sort) = (None, None, None);
        let mut rest = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if v.contains('\0') {
                return Err(invalid_query("query values must not contain NUL characters").with_field(&k));
            }
            match &*k {
                "cursor" => cursor = Some(v.into_owned()),
                "limit" => limit = Some(v.into_owned()),
                "sort" => sort = Some(v.into_owned()),
                _ => rest.push((k.into_owned(), v.into_owned())),
            }
        }
        let limit = match limit {
            None => 50,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=200).contains(&n) => n,
                _ => return Err(invalid_query("limit must be a whole number from 1 to 200").with_field("limit")),
            },
        };
        let (descending, sort_name) = match sort.as_deref() {
            None => (F::DESCENDING, F::SORTS[0].name),
            Some(s) => match s.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, s),
            },
        };
        let Some(sort_key) = F::SORTS.iter().find(|k| k.name == sort_name).copied() else {
            let names: Vec<_> = F::SORTS.iter().map(|k| k.name).collect();
            return Err(invalid_query(format!(
                "sort must be one of {} (with - in front for descending)",
                names.join(", ")
            ))
            .with_field("sort"));
        };
        let after = cursor.map(|c| decode_cursor(&c, sort_key.name, descending)).transpose()?;
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&rest).finish();
        let filters = super::extract::query_params::<F>(&encoded)?;
        Ok(Self { listing: Listing { sort: sort_key, descending, after, limit }, filters })
    }
}

fn encode_cursor(sort: &str, descending: bool, key: &str, id: &str) -> String {
    let raw = serde_json::json!([sort, descending, key, id]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str, sort: &str, descending: bool) -> Result<(String, String), AppError> {
    let bad = || invalid_query("cursor is not one this list gave (or the sort changed since)").with_field("cursor");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let (s, d, key, id): (String, bool, String, String) = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if s != sort || d != descending {
        return Err(bad());
    }
    Ok((key, id))
}

impl<F: ListFilters + Send> FromRequestParts<AppState> for List<F> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query().unwrap_or(""))
    }
}

/// For lists without filters of their own: sorted by creation (default) or name.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilters {}

impl ListFilters for NoFilters {
    const SORTS: &'static [SortKey] = &[crate::store::listing::BY_CREATED, crate::store::listing::BY_NAME];
}

/// How every list is paged and sorted (documentation of what [`List`] reads).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// A sort field of this list, `-` in front for descending.
    sort: Option<String>,
}

/// A page of results and the cursor of the next page, if there is one.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    /// Rows fetched by [`Listing::fetch`] (one more than the limit when another page exists).
    pub fn from_keyed(mut rows: Vec<Keyed<T>>, listing: &Listing) -> Self {
        let more = rows.len() as i64 > listing.limit;
        rows.truncate(listing.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(listing.sort.name, listing.descending, &r.sort_key, &r.id))
        } else {
            None
        };
        Self { items: rows.into_iter().map(|r| r.item).collect(), next_cursor }
    }
}
