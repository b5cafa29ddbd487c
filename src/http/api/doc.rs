//! The OpenAPI 3.1 document, served at `/api/openapi.json`.
//!
//! Paths come from the handlers' own `#[utoipa::path]` annotations, registered through the same
//! `OpenApiRouter` that routes requests to them, so a route cannot exist undocumented. What every operation has
//! in common is added here once: the error shape as the answer to every failure, the two ways to authenticate,
//! and the `Idempotency-Key` header on POSTs.

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, Required, Type};
use utoipa::{Modify, ToSchema};

use super::permissions::{self, Needs};

/// Every error: a stable `code` for programs, a `message` for people, and `details` (for a validation error,
/// `{"field": …}`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Error {
    error: ErrorBody,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// Stable and machine-readable, e.g. `invalid_field`, `forbidden`, `queue_not_found`.
    code: String,
    message: String,
    details: Option<serde_json::Value>,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Switchboard API",
        description = "Configure and run a self-hosted WhatsApp contact center. Authenticate with an API token \
            (`Authorization: Bearer sb_…`) or, from the inbox, the session cookie plus `X-CSRF-Token` on unsafe \
            requests. Lists take `cursor`, `limit` and `sort` (prefix `-` for descending) and answer \
            `{items, next_cursor}`. Errors are `{\"error\": {code, message, details}}`. Each operation's \
            security scope is the permission it needs (`GET /api/v1/permissions` lists them and the roles that hold \
            them); a 403 names the missing one in `details.permission`.",
    ),
    components(schemas(Error, ErrorBody))
)]
pub struct ApiDoc;

/// What every operation has in common; applied to the finished document (after the routes added their paths).
pub struct Common;

/// Every operation of the document: (method in capitals, path).
pub fn operations(api: &OpenApi) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for (path, item) in &api.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            if op.is_some() {
                all.push((method.to_owned(), path.clone()));
            }
        }
    }
    all
}

impl Modify for Common {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token made by an admin (POST /api/v1/tokens)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "sb_session",
                "The inbox's session cookie from POST /api/v1/auth/login; unsafe requests also carry X-CSRF-Token",
            ))),
        );
        let error = ResponseBuilder::new()
            .description("The request failed; `error.code` says why")
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
            .build();
        let idempotency_key = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Repeating a POST with the same key (within 24 hours) answers the first request's response instead \
                 of doing it again",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(200))))
            .build();
        for (path, item) in api.paths.paths.iter_mut() {
            let ops: [(&str, &mut Option<Operation>); 5] = [
                ("GET", &mut item.get),
                ("PUT", &mut item.put),
                ("POST", &mut item.post),
                ("PATCH", &mut item.patch),
                ("DELETE", &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let is_post = method == "POST";
                op.responses.responses.insert("default".into(), error.clone().into());
                // The permission the operation needs is its security scope (OpenAPI 3.1 lets a bearer scheme
                // list the roles or permissions required), and is said in words too.
                let (scopes, words): (Option<Vec<String>>, Option<String>) = match permissions::needs(method, path) {
                    Some(Needs::Public) | None => (None, None),
                    Some(Needs::Caller) => (Some(Vec::new()), None),
                    Some(Needs::Permission(p)) => {
                        (Some(vec![p.as_str().to_owned()]), Some(format!("Needs the `{p}` permission.")))
                    }
                    Some(Needs::OwnOr(p)) => (
                        Some(Vec::new()),
                        Some(format!("Needs the `{p}` permission, except for the caller's own record.")),
                    ),
                };
                if let Some(line) = words {
                    op.description = Some(match op.description.take() {
                        Some(d) if !d.is_empty() => format!("{d}\n\n{line}"),
                        _ => line,
                    });
                }
                if let Some(scopes) = scopes {
                    op.security = Some(vec![
                        SecurityRequirement::new("token", scopes.clone()),
                        SecurityRequirement::new("session", scopes),
                    ]);
                }
                if is_post && !path.starts_with("/api/v1/auth/") {
                    let params: &mut Vec<Parameter> = op.parameters.get_or_insert_with(Vec::new);
                    params.push(idempotency_key.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The OpenAPI document keys schemas by name: two types of one name would leave one of them described as
    /// the other. Every `ToSchema` type's name (or its `schema(as = …)`) is unique across the crate.
    #[test]
    fn every_schema_name_is_used_once() {
        let mut files = Vec::new();
        rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut clashes = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if !(line.trim_start().starts_with("#[derive(") && line.contains("ToSchema")) {
                    continue;
                }
                let mut renamed = None;
                for next in &lines[i + 1..] {
                    let t = next.trim_start();
                    if let Some(rest) = t.strip_prefix("#[schema(as = ") {
                        renamed = rest.split(')').next().map(str::to_owned);
                    }
                    let item = t
                        .trim_start_matches("pub ")
                        .trim_start_matches("pub(crate) ")
                        .trim_start_matches("pub(super) ");
                    if let Some(rest) = item.strip_prefix("struct ").or_else(|| item.strip_prefix("enum ")) {
                        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                        let name = renamed.take().unwrap_or(name);
                        let place = format!("{}:{}", file.display(), i + 1);
                        if let Some(first) = seen.insert(name.clone(), place.clone()) {
                            clashes.push(format!("{name}: {first} and {place}"));
                        }
                        break;
                    }
                }
            }
        }
        assert!(clashes.is_empty(), "schema names used twice (give one `#[schema(as = …)]`):\n{}", clashes.join("\n"));
    }
}
