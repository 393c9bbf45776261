//! The part of `/api/<name>/<rest>` that goes upstream, checked so that it cannot leave the
//! API's base URL: every segment is percent-decoded repeatedly (double and triple encodings
//! included) and refused when any decoding is `.` or `..` (also before a `;` parameter),
//! holds a `/`, `\`, a control character or invalid UTF-8 (overlong `%c0%ae`), or is empty
//! (`//`); a first segment like `http:` (an absolute URL) is refused too. What passes is
//! forwarded exactly as the browser encoded it.
//!
//! Written here rather than taken from a crate: URL crates normalise `..` away (which would
//! silently change the request) instead of refusing it, and refusing is what keeps an
//! allowlisted base from becoming an open proxy.

use percent_encoding::percent_decode_str;

/// How many times a segment is decoded looking for a hidden `..` or `/`.
const DECODINGS: usize = 3;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `.` or `..`, in any encoding.
    #[error("the path may not contain `.` or `..` segments, in any encoding")]
    DotSegment,
    /// An encoded `/` or a `\` would change the path's structure upstream.
    #[error("the path may not contain encoded slashes or backslashes")]
    Separator,
    /// Control characters, NUL, invalid UTF-8.
    #[error("the path contains characters that are not allowed")]
    BadCharacter,
    /// `//` or a trailing empty segment inside the path.
    #[error("the path may not contain empty segments")]
    EmptySegment,
    /// `http://…` or `//host`: the upstream is fixed by the configuration.
    #[error("the path may not be an absolute URL")]
    AbsoluteUrl,
}

/// Checks the raw (still percent-encoded) rest of the path, without leading slash. An empty
/// rest is allowed (the API's base URL itself); a single trailing slash is kept.
pub fn checked_rest(raw: &str) -> Result<&str, PathError> {
    if raw.is_empty() {
        return Ok(raw);
    }
    let body = raw.strip_suffix('/').unwrap_or(raw);
    for (index, segment) in body.split('/').enumerate() {
        if segment.is_empty() {
            return Err(if index == 0 {
                PathError::AbsoluteUrl
            } else {
                PathError::EmptySegment
            });
        }
        check_segment(segment)?;
        if index == 0 && decoded_forms(segment)?.iter().any(|s| s.contains(':')) {
            // `http:`, `https%3A`, `C:`: looks like a scheme or a drive, never an API path.
            return Err(PathError::AbsoluteUrl);
        }
    }
    Ok(raw)
}

fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.contains('\\') {
        return Err(PathError::Separator);
    }
    for form in decoded_forms(segment)? {
        let before_params = form.split(';').next().unwrap_or_default();
        if matches!(before_params, "." | "..") || matches!(form.as_str(), "." | "..") {
            return Err(PathError::DotSegment);
        }
        if form.contains('/') || form.contains('\\') {
            return Err(PathError::Separator);
        }
        if form.chars().any(char::is_control) {
            return Err(PathError::BadCharacter);
        }
    }
    Ok(())
}

/// The segment as written, then decoded once, twice, three times (stopping when a decoding
/// changes nothing).
fn decoded_forms(segment: &str) -> Result<Vec<String>, PathError> {
    let mut forms = vec![segment.to_string()];
    for _ in 0..DECODINGS {
        let last = forms.last().map(String::as_str).unwrap_or_default();
        let next = percent_decode_str(last)
            .decode_utf8()
            .map_err(|_| PathError::BadCharacter)?
            .into_owned();
        if next == last {
            break;
        }
        forms.push(next);
    }
    Ok(forms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_pass_unchanged() {
        for ok in [
            "",
            "items",
            "items/42",
            "items/42/",
            "a%20b/c",
            "v1/users/me",
            "x;y=1",
        ] {
            assert_eq!(checked_rest(ok), Ok(ok));
        }
    }

    #[test]
    fn dot_segments_in_every_encoding_are_refused() {
        for bad in [
            "..",
            ".",
            "a/../b",
            "a/./b",
            "%2e%2e",
            "%2E%2E/x",
            ".%2e",
            "%2e.",
            "%252e%252e",
            "%25252e%25252e",
            "..;/x",
            "a/..;jsessionid=1/b",
            "%2e%2e%3b",
        ] {
            assert_eq!(checked_rest(bad), Err(PathError::DotSegment), "{bad}");
        }
    }

    #[test]
    fn encoded_separators_are_refused() {
        for bad in [
            "a%2fb", "a%2Fb", "a%5cb", "a\\b", "%252f", "..%2f", "a%255cb",
        ] {
            assert!(
                matches!(
                    checked_rest(bad),
                    Err(PathError::Separator) | Err(PathError::DotSegment)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn overlong_utf8_and_control_characters_are_refused() {
        for bad in ["%c0%ae%c0%ae", "%c0%af", "a%00b", "a%0d%0ab", "%ff"] {
            assert_eq!(checked_rest(bad), Err(PathError::BadCharacter), "{bad}");
        }
    }

    #[test]
    fn absolute_urls_and_empty_segments_are_refused() {
        assert_eq!(
            checked_rest("http:/evil.example"),
            Err(PathError::AbsoluteUrl)
        );
        assert_eq!(checked_rest("https%3a/evil"), Err(PathError::AbsoluteUrl));
        assert_eq!(checked_rest("/evil.example"), Err(PathError::AbsoluteUrl));
        assert_eq!(checked_rest("a//b"), Err(PathError::EmptySegment));
    }
}
