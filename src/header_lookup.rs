//! Header lookups on the request path without hashing.
//!
//! Rocket's header map hashes a name byte by byte with SipHash on every lookup: ~800
//! instructions for a name like `Sec-Fetch-Mode` (callgrind), a tenth of what a logged-out
//! script call costs beyond Rocket itself. A request carries a dozen headers and a response a
//! handful, so walking them and comparing names costs a fraction of that.

use std::borrow::Cow;

use rocket::http::HeaderMap;

/// The first value of the header `name` (any case), like `HeaderMap::get_one`.
pub fn first<'a>(headers: &'a HeaderMap<'_>, name: &str) -> Option<&'a str> {
    let header = headers.iter().find(|header| header.name == name)?;
    match header.value {
        Cow::Borrowed(value) => Some(value),
        // The map's iterator lends its values; should that change, the hashed lookup answers.
        Cow::Owned(_) => headers.get_one(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::http::Header;

    #[test]
    fn lookups_ignore_case_and_answer_like_the_hashed_ones() {
        let mut headers = HeaderMap::new();
        headers.add(Header::new("Sec-Fetch-Mode", "navigate"));
        headers.add(Header::new("accept", "text/html"));
        headers.add(Header::new("Accept", "*/*"));
        for name in [
            "sec-fetch-mode",
            "ACCEPT",
            "Accept",
            "X-Missing",
            "Sec-Fetch",
        ] {
            assert_eq!(first(&headers, name), headers.get_one(name), "{name}");
        }
        assert_eq!(first(&headers, "accept"), Some("text/html"));
    }
}
