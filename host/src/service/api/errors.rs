//! ARM-shaped errors: every failure of the API answers `{"error":{"code":..,"message":..}}`
//! with the status Azure Resource Manager uses, so ADF tooling (Microsoft's SDKs, the CLI)
//! reports it as it would report Azure's. Messages never carry a token, a secret or a
//! stored body; internal failures are logged and answered with a generic message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::SUPPORTED_API_VERSION;
use crate::service::control::ControlError;

/// Why an API request failed (or the server could not start).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Bearer` header.
    #[error("the request has no bearer token (Authorization: Bearer <token>)")]
    MissingToken,
    /// A token that matches no tenant (forged, rotated or deleted).
    #[error("the bearer token is not valid")]
    InvalidToken,
    #[error("the subscription id '{0}' is not a valid UUID")]
    InvalidSubscriptionId(String),
    /// Another tenant's subscription or one that does not exist: the same answer for both.
    #[error("the subscription '{0}' could not be found")]
    SubscriptionNotFound(String),
    #[error("the query parameter api-version is required; the supported version is '{SUPPORTED_API_VERSION}'")]
    MissingApiVersion,
    #[error("the api-version '{0}' is not supported; the supported version is '{SUPPORTED_API_VERSION}'")]
    InvalidApiVersion(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body is not valid JSON: {reason} at line {line} column {column}")]
    MalformedJson {
        reason: String,
        line: usize,
        column: usize,
    },
    #[error("the request body nests JSON deeper than {0} levels")]
    TooDeep(usize),
    /// A well-formed request the API refuses; `code` is ARM's error code.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("no API operation at {0}")]
    NoRoute(String),
    #[error("the method {method} is not allowed on {route}")]
    MethodNotAllowed { method: String, route: &'static str },
    #[error("{0}")]
    EtagMismatch(String),
    #[error("{0}")]
    Conflict(String),
    #[error(
        "the tenant's request rate ({rate} per second) is exceeded; retry after {retry_after} s"
    )]
    RateLimited { rate: u32, retry_after: u64 },
    #[error("the control database is unavailable")]
    Unavailable,
    /// A failure inside the service; the detail is logged, never answered.
    #[error("internal error: {0}")]
    Internal(String),
    /// The server could not start (bind, TLS files).
    #[error("{0}")]
    Startup(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code: "BadRequest",
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingToken | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::InvalidSubscriptionId(_)
            | ApiError::MissingApiVersion
            | ApiError::InvalidApiVersion(_)
            | ApiError::MalformedJson { .. }
            | ApiError::TooDeep(_)
            | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::SubscriptionNotFound(_) | ApiError::NotFound(_) | ApiError::NoRoute(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::EtagMismatch(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Startup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// ARM's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken => "AuthenticationFailed",
            ApiError::InvalidToken => "InvalidAuthenticationToken",
            ApiError::InvalidSubscriptionId(_) => "InvalidSubscriptionId",
            ApiError::SubscriptionNotFound(_) => "SubscriptionNotFound",
            ApiError::MissingApiVersion => "MissingApiVersionParameter",
            ApiError::InvalidApiVersion(_) => "InvalidApiVersionParameter",
            ApiError::TooLarge { .. } => "RequestEntityTooLarge",
            ApiError::MalformedJson { .. } | ApiError::TooDeep(_) => "InvalidRequestContent",
            ApiError::BadRequest { code, .. } => code,
            ApiError::NotFound(_) => "ResourceNotFound",
            ApiError::NoRoute(_) => "InvalidResourceType",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::EtagMismatch(_) => "ConflictingEtag",
            ApiError::Conflict(_) => "Conflict",
            ApiError::RateLimited { .. } => "TooManyRequests",
            ApiError::Unavailable => "ServiceUnavailable",
            ApiError::Internal(_) | ApiError::Startup(_) => "InternalServerError",
        }
    }

    /// The message answered: internal details stay in the log.
    fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) | ApiError::Startup(_) => {
                "the service failed to handle the request; the operator's log has the details"
                    .to_string()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let body = json!({"error": {"code": self.code(), "message": self.public_message()}});
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::MissingToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sluice\""),
                );
            }
            ApiError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sluice\", error=\"invalid_token\""),
                );
            }
            ApiError::RateLimited { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match e {
            ControlError::EtagMismatch => ApiError::EtagMismatch(e.to_string()),
            ControlError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ControlError::Conflict(m) => ApiError::Conflict(m),
            ControlError::Invalid(m) => ApiError::bad_request(m),
            ControlError::TriggerStarted(_) => ApiError::BadRequest {
                code: "TriggerEnabledCannotUpdate",
                message: e.to_string(),
            },
            ControlError::Database {
                transient: true, ..
            } => {
                tracing::warn!(error = %e, "control database unavailable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(e: ApiError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = e.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn errors_answer_arm_shapes_with_their_headers() {
        let (status, headers, body) = body_of(ApiError::RateLimited {
            rate: 5,
            retry_after: 2,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "2");
        assert_eq!(body["error"]["code"], "TooManyRequests");
        let (status, headers, body) = body_of(ApiError::InvalidToken).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        // Internal details stay in the log.
        let (status, _, body) = body_of(ApiError::Internal("password=hunter2".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }

    #[test]
    fn control_errors_map_to_statuses() {
        let cases = [
            (ControlError::EtagMismatch, StatusCode::CONFLICT),
            (
                ControlError::NotFound("factory 'f'".into()),
                StatusCode::NOT_FOUND,
            ),
            (
                ControlError::Invalid("bad token".into()),
                StatusCode::BAD_REQUEST,
            ),
            (ControlError::Conflict("twice".into()), StatusCode::CONFLICT),
            (
                ControlError::Database {
                    message: "gone".into(),
                    transient: true,
                },
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                ControlError::Database {
                    message: "syntax".into(),
                    transient: false,
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status(), status);
        }
    }
}
