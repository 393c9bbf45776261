//! `normalize_return_to` for arbitrary UTF-8: whatever comes in, what comes out is a path on
//! this origin, also after a server or browser percent-decodes it once or twice, and one the
//! callback can redirect to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_bff::testing::oidc::flow::normalize_return_to;

fuzz_target!(|data: &[u8]| {
    let Ok(candidate) = std::str::from_utf8(data) else {
        return;
    };
    let result = normalize_return_to(Some(candidate));

    assert!(result.starts_with('/'), "{candidate:?} -> {result:?}");
    assert!(!result.starts_with("//"), "{candidate:?} -> {result:?}");
    assert!(!result.starts_with("/\\"), "{candidate:?} -> {result:?}");
    assert!(!result.contains('\\'), "{candidate:?} -> {result:?}");
    assert!(
        !result.chars().any(|c| c.is_control() || c.is_whitespace()),
        "{candidate:?} -> {result:?}"
    );
    // Kept (percent-encoding what a URI may not hold, which changes nothing once decoded) or
    // replaced by the root.
    assert!(
        result == "/"
            || (result.is_ascii()
                && percent_decode(result.as_bytes()) == percent_decode(candidate.as_bytes())),
        "{candidate:?} -> {result:?} means something else"
    );

    if let Some(problem) = decoding_problem(result.as_bytes()) {
        panic!("{candidate:?} -> {result:?} {problem}");
    }

    // Idempotent: a kept path is kept again (the callback redirects to what /login stored).
    assert_eq!(normalize_return_to(Some(&result)), result, "{candidate:?}");

    // The callback's `Redirect::to` needs a URI reference Rocket can parse; otherwise a
    // successful login answers 500 (issue 2, fixed).
    assert!(
        rocket::http::uri::Reference::parse(&result).is_ok(),
        "{candidate:?} -> {result:?} is not a URI reference: the callback would answer 500"
    );
});

/// What percent-decoding `path` once or twice (bytewise, as a server decoding raw bytes
/// would) reveals that must not be there.
fn decoding_problem(path: &[u8]) -> Option<String> {
    let mut current = path.to_vec();
    for _ in 0..2 {
        let decoded = percent_decode(&current);
        let text = String::from_utf8_lossy(&decoded);
        if decoded.starts_with(b"//") {
            return Some(format!("decodes to {text:?}, another origin"));
        }
        if decoded.contains(&b'\\') {
            return Some(format!("decodes to {text:?}, with a backslash"));
        }
        if text.chars().any(char::is_control) {
            return Some(format!("decodes to {text:?}, with a control character"));
        }
        current = decoded;
    }
    None
}

/// RFC 3986 percent-decoding, bytewise: `%XY` with two hex digits becomes one byte, anything
/// else (a lone `%`, `%G1`, `+`) stays as it is.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(hi), Some(lo)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}
