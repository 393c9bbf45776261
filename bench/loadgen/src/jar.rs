//! What a browser keeps of a login's `Set-Cookie` answers and sends back to one path
//! (RFC 6265 §5.1.4, §5.3, §5.4), so that a benchmark's `Cookie` header is a browser's: the
//! app's logout hint (`Path=/logout`) is not sent to `/api/hello` or `/`, and the login
//! attempt's cookie, deleted by `/callback`, is not sent at all.

/// The cookies set so far, in the order they were first set.
#[derive(Default, Clone)]
pub struct Jar {
    cookies: Vec<Stored>,
}

#[derive(Clone)]
struct Stored {
    name: String,
    value: String,
    path: String,
}

impl Jar {
    /// Applies the `Set-Cookie` lines of the answer to a request for `request_uri`, in order:
    /// a cookie replaces the one of the same name and path; an empty value or `Max-Age` ≤ 0
    /// deletes it (how Rocket and express remove cookies).
    pub fn update(&mut self, request_uri: &str, lines: &[String]) {
        for line in lines {
            let Some((name, value, path, deleted)) = parse(line) else {
                continue;
            };
            let path = path.unwrap_or_else(|| default_path(request_uri));
            self.cookies.retain(|c| !(c.name == name && c.path == path));
            if !deleted {
                self.cookies.push(Stored { name, value, path });
            }
        }
    }

    /// The `Cookie` header a browser sends to `request_uri`: the cookies whose path matches,
    /// longer paths first (RFC 6265 §5.4 step 2); empty when none does.
    pub fn header_for(&self, request_uri: &str) -> String {
        let path = uri_path(request_uri);
        let mut sent: Vec<&Stored> = self
            .cookies
            .iter()
            .filter(|c| path_matches(path, &c.path))
            .collect();
        sent.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        sent.iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Name, value, `Path` (if any, and absolute) and whether the line deletes the cookie.
fn parse(line: &str) -> Option<(String, String, Option<String>, bool)> {
    let mut parts = line.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return None;
    }
    let mut path = None;
    let mut deleted = value.is_empty();
    for attribute in parts {
        let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
        let (key, val) = (key.trim(), val.trim());
        if key.eq_ignore_ascii_case("path") && val.starts_with('/') {
            path = Some(val.to_string());
        } else if key.eq_ignore_ascii_case("max-age") {
            deleted |= val.parse::<i64>().is_ok_and(|secs| secs <= 0);
        }
    }
    Some((name.to_string(), value.to_string(), path, deleted))
}

/// The request's path, without its query.
fn uri_path(uri: &str) -> &str {
    let path = uri.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// RFC 6265 §5.1.4: the directory of the request's path.
fn default_path(request_uri: &str) -> String {
    let path = uri_path(request_uri);
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(end) => path[..end].to_string(),
    }
}

/// RFC 6265 §5.1.4: does a request for `path` get a cookie of `cookie_path`?
fn path_matches(path: &str, cookie_path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/')
                || path.as_bytes().get(cookie_path.len()) == Some(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_cookie_scoped_to_logout_is_sent_to_logout_only() {
        let mut jar = Jar::default();
        jar.update(
            "/callback",
            &lines(&[
                "bff_session=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=86400",
                "bff_logout_hint=xyz; HttpOnly; SameSite=Lax; Path=/logout; Max-Age=86400",
            ]),
        );
        assert_eq!(jar.header_for("/api/hello"), "bff_session=abc");
        assert_eq!(jar.header_for("/"), "bff_session=abc");
        assert_eq!(
            jar.header_for("/logout"),
            "bff_logout_hint=xyz; bff_session=abc"
        );
        assert_eq!(jar.header_for("/logoutx"), "bff_session=abc");
    }

    #[test]
    fn a_deleted_cookie_is_not_sent() {
        let mut jar = Jar::default();
        jar.update(
            "/login?returnTo=%2F",
            &lines(&["bff_login_a=1; Path=/; SameSite=None"]),
        );
        jar.update(
            "/callback",
            &lines(&["bff_login_a=; Path=/; Max-Age=0", "bff_session=s; Path=/"]),
        );
        assert_eq!(jar.header_for("/api/hello"), "bff_session=s");
    }

    #[test]
    fn without_a_path_the_cookie_belongs_to_the_directory_of_the_request() {
        let mut jar = Jar::default();
        jar.update("/auth/callback?x=1", &lines(&["a=1"]));
        jar.update("/callback", &lines(&["b=2"]));
        assert_eq!(jar.header_for("/auth/x"), "a=1; b=2");
        assert_eq!(jar.header_for("/api/hello"), "b=2");
    }
}
