//! HTTP: each module exports `routes()`; `errors` holds the error pages and catchers.

pub mod api;
pub mod auth;
pub mod errors;
pub mod health;
pub mod jwks;
pub mod pages;
pub mod session_endpoint;
pub mod start_page;
pub mod views;
