//! Request parameters (RFC 6749 §3.1): from a query string or a form body, each name with all
//! the values it was given, so that a parameter sent twice can be refused.

use std::collections::HashMap;

/// Request parameters by name, each with every value it was given.
pub struct Params(HashMap<String, Vec<String>>);

impl Params {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (name, value) in pairs {
            map.entry(name).or_default().push(value);
        }
        Self(map)
    }

    /// `application/x-www-form-urlencoded` text, as in a query string or a form body.
    pub fn parse(encoded: &str) -> Self {
        Self::from_pairs(url::form_urlencoded::parse(encoded.as_bytes()).into_owned())
    }

    /// Every name and value, in no particular order.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
            .into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect()
    }

    /// Whether the parameter was given at all (even empty).
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// The value of a parameter given once; an empty value counts as absent (RFC 6749 3.1).
    pub fn one(&self, name: &str) -> Result<Option<&str>, Duplicate> {
        match self.0.get(name).map(Vec::as_slice) {
            None => Ok(None),
            Some([value]) => Ok(Some(value.as_str()).filter(|v| !v.is_empty())),
            Some(_) => Err(Duplicate(name.to_string())),
        }
    }
}

/// A parameter sent more than once (RFC 6749 3.1 forbids it).
#[derive(Debug)]
pub struct Duplicate(pub String);
