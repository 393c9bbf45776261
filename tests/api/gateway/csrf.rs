//! Unsafe methods need `X-CSRF: 1` and, when the browser tells, a same-origin request:
//! otherwise 403 JSON and nothing forwarded. Safe methods pass without.

use rocket::http::{Header, Method, Status};

use super::{gateway_app, json, log_in};
use crate::helpers::upstream::Upstream;

async fn status_of(method: Method, headers: &[(&'static str, &'static str)]) -> (Status, usize) {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    let mut request = app.client.req(method, "/api/echo/orders").body("{}");
    for (name, value) in headers {
        request = request.header(Header::new(*name, *value));
    }
    let response = request.dispatch().await;
    let status = response.status();
    if status == Status::Forbidden {
        assert_eq!(json(response).await["error"], "csrf_check_failed");
    }
    (status, upstream.count())
}

#[tokio::test]
async fn post_put_patch_and_delete_without_the_csrf_header_are_refused_unsent() {
    for method in [Method::Post, Method::Put, Method::Patch, Method::Delete] {
        let (status, sent) = status_of(method, &[("Sec-Fetch-Site", "same-origin")]).await;
        assert_eq!((status, sent), (Status::Forbidden, 0), "{method}");
    }
}

#[tokio::test]
async fn a_csrf_header_with_another_value_is_refused() {
    let (status, sent) = status_of(Method::Post, &[("X-CSRF", "yes")]).await;
    assert_eq!((status, sent), (Status::Forbidden, 0));
}

#[tokio::test]
async fn a_cross_site_or_same_site_post_is_refused_even_with_the_header() {
    for site in ["cross-site", "same-site", "none"] {
        let (status, sent) =
            status_of(Method::Post, &[("X-CSRF", "1"), ("Sec-Fetch-Site", site)]).await;
        assert_eq!((status, sent), (Status::Forbidden, 0), "{site}");
    }
}

#[tokio::test]
async fn a_same_origin_post_with_the_header_is_forwarded() {
    let (status, sent) = status_of(
        Method::Post,
        &[("X-CSRF", "1"), ("Sec-Fetch-Site", "same-origin")],
    )
    .await;
    assert_eq!((status, sent), (Status::Ok, 1));
}

#[tokio::test]
async fn a_post_with_the_header_from_a_client_without_fetch_metadata_is_forwarded() {
    let (status, sent) = status_of(Method::Post, &[("X-CSRF", "1")]).await;
    assert_eq!((status, sent), (Status::Ok, 1));
}

#[tokio::test]
async fn safe_methods_need_no_csrf_header() {
    for method in [Method::Get, Method::Head, Method::Options] {
        let (status, sent) = status_of(method, &[]).await;
        assert_eq!((status, sent), (Status::Ok, 1), "{method}");
    }
}
