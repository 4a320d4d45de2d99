//! What values a characteristic accepts beyond its type: declared bounds (`min`, `max`,
//! `maxLength`, `pattern`, `enum`, `multiline`) and the built-in ones every value meets.
//!
//! Built-in rules: an integer fits a signed 64-bit integer; a string is at most
//! [`DEFAULT_MAX_LENGTH`] bytes unless `maxLength` says otherwise (up to [`MAX_LENGTH`]) and
//! holds no control character except tab, nor a newline unless `multiline: true`; an array or
//! object is at most [`MAX_LENGTH`] bytes of JSON and its strings follow the same
//! control-character rule. A characteristic used as a blueprint's `spec.replicas` is an integer
//! from 0 to [`MAX_REPLICAS`] (tighter when the spec declares it).

use super::ValueType;
use crate::FieldError;
use serde_json::{Number, Value};

/// Longest string a characteristic takes when its spec does not say.
pub const DEFAULT_MAX_LENGTH: usize = 1024;
/// Longest string (or array/object as JSON) any characteristic takes.
pub const MAX_LENGTH: usize = 64 * 1024;
/// Most replicas a site accepts for one blueprint (its process and Docker reconcilers).
pub const MAX_REPLICAS: i64 = 256;

/// A characteristic's declared bounds, as written in a spec file (all optional).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declared {
    /// Smallest integer or number.
    pub min: Option<Number>,
    /// Largest integer or number.
    pub max: Option<Number>,
    /// Longest string, in bytes.
    pub max_length: Option<u64>,
    /// A regular expression the whole string matches.
    pub pattern: Option<String>,
    /// The only values accepted.
    pub one_of: Option<Vec<Value>>,
    /// Whether a string may hold newlines.
    pub multiline: bool,
}

/// The validated bounds of one characteristic.
#[derive(Debug, Clone)]
pub struct Constraints {
    value_type: ValueType,
    min: Option<Number>,
    max: Option<Number>,
    max_length: usize,
    pattern: Option<(String, regex::Regex)>,
    one_of: Option<Vec<Value>>,
    multiline: bool,
}

impl PartialEq for Constraints {
    fn eq(&self, o: &Self) -> bool {
        self.value_type == o.value_type
            && self.min == o.min
            && self.max == o.max
            && self.max_length == o.max_length
            && self.pattern.as_ref().map(|p| &p.0) == o.pattern.as_ref().map(|p| &p.0)
            && self.one_of == o.one_of
            && self.multiline == o.multiline
    }
}

impl Constraints {
    /// Only the built-in rules of `value_type`.
    pub fn builtin(value_type: ValueType) -> Self {
        Self {
            value_type,
            min: None,
            max: None,
            max_length: DEFAULT_MAX_LENGTH,
            pattern: None,
            one_of: None,
            multiline: false,
        }
    }

    /// Checks `d` against `value_type`; errors name the field (`min`, `pattern`, `enum[1]`).
    pub fn new(value_type: ValueType, d: Declared) -> Result<Self, FieldError> {
        let numeric = matches!(value_type, ValueType::Integer | ValueType::Number);
        let only = |field: &str, ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(FieldError::new(
                    field,
                    format!("applies to {what}, not to {}", value_type.as_str()),
                ))
            }
        };
        for (field, n) in [("min", &d.min), ("max", &d.max)] {
            if let Some(n) = n {
                only(field, numeric, "integer and number")?;
                if value_type == ValueType::Integer && n.as_i64().is_none() {
                    return Err(FieldError::new(field, format!("{n} is not an integer")));
                }
            }
        }
        if let (Some(lo), Some(hi)) = (&d.min, &d.max)
            && compare(lo, hi) == Some(std::cmp::Ordering::Greater)
        {
            return Err(FieldError::new("min", format!("{lo} is above max {hi}")));
        }
        let texty = value_type == ValueType::String;
        if d.max_length.is_some() {
            only("maxLength", texty, "string")?;
        }
        let max_length = match d.max_length {
            None => DEFAULT_MAX_LENGTH,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_LENGTH).contains(n))
                .ok_or_else(|| {
                    FieldError::new(
                        "maxLength",
                        format!("must be from 1 to {MAX_LENGTH}, got {n}"),
                    )
                })?,
        };
        if d.multiline {
            only("multiline", texty, "string")?;
        }
        let pattern = match d.pattern {
            None => None,
            Some(p) => {
                only("pattern", texty, "string")?;
                let re = regex::RegexBuilder::new(&format!("^(?:{p})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| FieldError::new("pattern", format!("invalid: {e}")))?;
                Some((p, re))
            }
        };
        let mut c = Self {
            value_type,
            min: d.min,
            max: d.max,
            max_length,
            pattern,
            one_of: None,
            multiline: d.multiline,
        };
        if let Some(values) = d.one_of {
            if values.is_empty() {
                return Err(FieldError::new("enum", "must not be empty"));
            }
            for (i, v) in values.iter().enumerate() {
                if !value_type.matches(v) {
                    return Err(FieldError::new(
                        format!("enum[{i}]"),
                        format!("{v} is not of type {}", value_type.as_str()),
                    ));
                }
                c.check(v)
                    .map_err(|reason| FieldError::new(format!("enum[{i}]"), reason))?;
            }
            c.one_of = Some(values);
        }
        Ok(c)
    }

    /// Narrows the bounds to what a site accepts as `spec.replicas`: an integer from 0 to
    /// [`MAX_REPLICAS`]. A declared bound outside that range is an error naming it.
    pub fn for_replicas(mut self) -> Result<Self, FieldError> {
        if self.value_type != ValueType::Integer {
            return Err(FieldError::new(
                "valueType",
                format!(
                    "is {}, but replicas are an integer",
                    self.value_type.as_str()
                ),
            ));
        }
        let within = |n: &Number| n.as_i64().is_some_and(|n| (0..=MAX_REPLICAS).contains(&n));
        for (field, n) in [("min", &self.min), ("max", &self.max)] {
            if let Some(n) = n.as_ref().filter(|n| !within(n)) {
                return Err(FieldError::new(
                    field,
                    format!("{n} is outside the 0 to {MAX_REPLICAS} replicas a site accepts"),
                ));
            }
        }
        self.min.get_or_insert(Number::from(0));
        self.max.get_or_insert(Number::from(MAX_REPLICAS));
        Ok(self)
    }

    /// Checks a value already of the characteristic's type; the reason says what is wrong.
    pub fn check(&self, v: &Value) -> Result<(), String> {
        match v {
            Value::Number(n) => self.check_number(n)?,
            Value::String(s) => self.check_string(s)?,
            Value::Array(_) | Value::Object(_) => {
                let len = v.to_string().len();
                if len > MAX_LENGTH {
                    return Err(format!(
                        "must be at most {MAX_LENGTH} bytes of JSON, got {len}"
                    ));
                }
                check_nested_text(v)?;
            }
            Value::Bool(_) | Value::Null => {}
        }
        match &self.one_of {
            Some(values) if !values.contains(v) => {
                let list: Vec<String> = values.iter().map(Value::to_string).collect();
                Err(format!("must be one of {}, got {v}", list.join(", ")))
            }
            _ => Ok(()),
        }
    }

    fn check_number(&self, n: &Number) -> Result<(), String> {
        if self.value_type == ValueType::Integer && n.as_i64().is_none() {
            return Err(format!("must fit a 64-bit signed integer, got {n}"));
        }
        let below = self
            .min
            .as_ref()
            .is_some_and(|lo| compare(n, lo) == Some(std::cmp::Ordering::Less));
        let above = self
            .max
            .as_ref()
            .is_some_and(|hi| compare(n, hi) == Some(std::cmp::Ordering::Greater));
        if below || above {
            return Err(match (&self.min, &self.max) {
                (Some(lo), Some(hi)) => format!("must be between {lo} and {hi}, got {n}"),
                (Some(lo), None) => format!("must be at least {lo}, got {n}"),
                (None, Some(hi)) => format!("must be at most {hi}, got {n}"),
                (None, None) => String::new(),
            });
        }
        Ok(())
    }

    fn check_string(&self, s: &str) -> Result<(), String> {
        if s.len() > self.max_length {
            return Err(format!(
                "must be at most {} bytes, got {}",
                self.max_length,
                s.len()
            ));
        }
        check_text(s, self.multiline)?;
        if let Some((p, re)) = &self.pattern
            && !re.is_match(s)
        {
            return Err(format!("must match the pattern {p}"));
        }
        Ok(())
    }
}

/// Refuses control characters other than tab (and newline when `multiline`).
fn check_text(s: &str, multiline: bool) -> Result<(), String> {
    match s
        .chars()
        .find(|c| c.is_control() && *c != '\t' && !(multiline && *c == '\n'))
    {
        None => Ok(()),
        Some('\0') => Err("must not contain a NUL byte".into()),
        Some('\n') => Err("must be one line (the spec does not allow multiline)".into()),
        Some(c) => Err(format!(
            "must not contain the control character U+{:04X}",
            u32::from(c)
        )),
    }
}

fn check_nested_text(v: &Value) -> Result<(), String> {
    match v {
        Value::String(s) => check_text(s, true),
        Value::Array(a) => a.iter().try_for_each(check_nested_text),
        Value::Object(m) => m
            .iter()
            .try_for_each(|(k, x)| check_text(k, false).and_then(|()| check_nested_text(x))),
        _ => Ok(()),
    }
}

/// Orders two JSON numbers (exactly for integers).
fn compare(a: &Number, b: &Number) -> Option<std::cmp::Ordering> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

#[cfg(test)]
#[path = "constraints_tests.rs"]
mod tests;
