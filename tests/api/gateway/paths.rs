//! The path cannot leave the API's base URL: every traversal encoding is refused with 400
//! JSON before anything is sent upstream.

use rocket::http::Status;

use super::{fetch, gateway_app, json, log_in};
use crate::helpers::upstream::Upstream;

async fn refused_without_a_request(path: &str) {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    let response = fetch(&app, path).await;
    assert_eq!(response.status(), Status::BadRequest, "{path}");
    assert_eq!(json(response).await["error"], "invalid_path", "{path}");
    assert_eq!(upstream.count(), 0, "{path} reached the upstream");
}

#[tokio::test]
async fn plain_dot_dot_is_refused() {
    refused_without_a_request("/api/public/../../secret").await;
}

#[tokio::test]
async fn percent_encoded_dot_dot_is_refused() {
    refused_without_a_request("/api/public/%2e%2e/secret").await;
    refused_without_a_request("/api/public/%2E%2E/secret").await;
    refused_without_a_request("/api/public/.%2e/secret").await;
}

#[tokio::test]
async fn double_and_triple_encoded_dot_dot_is_refused() {
    refused_without_a_request("/api/public/%252e%252e/secret").await;
    refused_without_a_request("/api/public/%25252e%25252e/secret").await;
}

#[tokio::test]
async fn dot_dot_before_a_matrix_parameter_is_refused() {
    refused_without_a_request("/api/public/..;/secret").await;
}

#[tokio::test]
async fn overlong_utf8_dots_are_refused() {
    refused_without_a_request("/api/public/%c0%ae%c0%ae/secret").await;
}

#[tokio::test]
async fn encoded_slashes_and_backslashes_are_refused() {
    refused_without_a_request("/api/public/a%2fb").await;
    refused_without_a_request("/api/public/a%5cb").await;
    refused_without_a_request("/api/public/..%5csecret").await;
    refused_without_a_request("/api/public/a%252fb").await;
}

#[tokio::test]
async fn absolute_urls_are_refused() {
    refused_without_a_request("/api/public/http://evil.example/x").await;
    refused_without_a_request("/api/public//evil.example/x").await;
    refused_without_a_request("/api/public/https%3A%2F%2Fevil.example").await;
}

#[tokio::test]
async fn a_single_dot_segment_is_refused() {
    refused_without_a_request("/api/public/./x").await;
}
