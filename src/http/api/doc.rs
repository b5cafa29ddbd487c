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
            `{items, next_cursor}`. Errors are `{\"error\": {code, message, details}}`.",
    ),
    components(schemas(Error, ErrorBody))
)]
pub struct ApiDoc;

/// What every operation has in common; applied to the finished document (after the routes added their paths).
pub struct Common;

/// Operations anyone may call without authenticating.
const PUBLIC: &[&str] = &["/api/v1/auth/login"];

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
            let public = PUBLIC.contains(&path.as_str());
            let ops: [(&mut Option<Operation>, bool); 5] = [
                (&mut item.get, false),
                (&mut item.put, false),
                (&mut item.post, true),
                (&mut item.patch, false),
                (&mut item.delete, false),
            ];
            for (op, is_post) in ops {
                let Some(op) = op.as_mut() else { continue };
                op.responses.responses.insert("default".into(), error.clone().into());
                if !public {
                    op.security = Some(vec![
                        SecurityRequirement::new("token", Vec::<String>::new()),
                        SecurityRequirement::new("session", Vec::<String>::new()),
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
