//! `--name value` options, with defaults and one-line errors.

use std::collections::HashMap;
use std::str::FromStr;

pub struct Args {
    values: HashMap<String, String>,
    /// Everything after `--` (a command to spawn).
    pub rest: Vec<String>,
}

impl Args {
    pub fn parse(raw: &[String]) -> Result<Self, String> {
        let mut values = HashMap::new();
        let mut rest = Vec::new();
        let mut iter = raw.iter();
        while let Some(arg) = iter.next() {
            if arg == "--" {
                rest = iter.cloned().collect();
                break;
            }
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            let value = iter
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            values.insert(name.to_string(), value.clone());
        }
        Ok(Self { values, rest })
    }

    pub fn text(&self, name: &str) -> Result<String, String> {
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| format!("--{name} is required"))
    }

    pub fn opt(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }

    pub fn or<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: cannot read `{v}`")),
        }
    }
}
