//! The rollout strategy of an order item: how its target sites are split into waves, in which
//! order, and what each wave must show before the next one starts. A strategy arrives from
//! outside, so [`Strategy::validate`] checks every field and names the first one it refuses.

use maestro_common::FieldError;
use maestro_common::text::{Lines, MAX_LINE_BYTES, check_text};
use serde::{Deserialize, Serialize};

/// Most waves of one rollout.
pub const MAX_WAVES: usize = 100;
/// Most label keys sites are ordered by.
pub const MAX_ORDER_KEYS: usize = 16;
/// Longest bake time and report timeout: one week, in ms.
pub const MAX_DURATION_MS: u64 = 7 * 24 * 3600 * 1000;
/// Shortest report timeout, in ms: a site needs a moment to be heard.
pub const MIN_REPORT_TIMEOUT_MS: u64 = 1000;
/// Largest count in a wave size, a threshold or `max_changing`.
pub const MAX_COUNT: u32 = 1_000_000;
/// Most failed attempts at the new generation before a site falls back by itself.
pub const MAX_FALL_BACK_AFTER: u32 = 100;

/// How an order item's change travels over its target sites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// Sizes of the waves after the canary wave; the last wave takes every site left.
    pub waves: WaveSizes,
    /// Sites matching this label form a wave of their own, before every other wave.
    #[serde(default)]
    pub canary: Option<LabelMatch>,
    /// The order sites are put into waves.
    #[serde(default)]
    pub order: SiteOrder,
    /// What every wave must show to advance, and what aborts it.
    pub gate: WaveGate,
    /// Most sites changing at once (started and not yet succeeded or failed), over all waves.
    pub max_changing: u32,
}

/// The sizes of the waves, by count or by percentage of the sites left after the canary wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WaveSizes {
    /// So many sites per wave.
    Counts(Vec<u32>),
    /// So many percent of the sites per wave (rounded up at each wave's cumulative boundary);
    /// they add up to at most 100.
    Percentages(Vec<u32>),
}

/// A label a site must carry with this value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelMatch {
    /// Label key.
    pub key: String,
    /// Label value.
    pub value: String,
}

impl LabelMatch {
    /// Whether `labels` carry this label.
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        labels.get(&self.key) == Some(&self.value)
    }
}

/// The order of sites: those matching `first` (earlier matches first), then by the values of
/// the `by` keys (a site without a key after those with it), then by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteOrder {
    /// Labels that bring a site forward.
    #[serde(default)]
    pub first: Vec<LabelMatch>,
    /// Label keys to sort by.
    #[serde(default)]
    pub by: Vec<String>,
}

/// A number of sites of a wave: a fraction of the wave or a count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Threshold {
    /// A fraction (0..=1) of the wave's sites, rounded up.
    Fraction(f64),
    /// So many sites (a wave smaller than that needs all of them).
    Count(u32),
}

impl Threshold {
    /// How many of `n` sites this is: a fraction rounded up, a count capped at `n`.
    pub fn of(self, n: usize) -> usize {
        match self {
            // Parts per million keep the rounding exact for the fractions people write.
            Self::Fraction(f) => {
                let ppm = (f.clamp(0.0, 1.0) * 1e6).round() as u64;
                let n64 = n as u64;
                usize::try_from(n64.saturating_mul(ppm).div_ceil(1_000_000)).unwrap_or(n)
            }
            Self::Count(c) => usize::try_from(c).unwrap_or(usize::MAX).min(n),
        }
    }
}

/// What happens to a started site that has not been heard within the report timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilentPolicy {
    /// It holds its wave: the next wave waits until it reports or an operator acts.
    Block,
    /// It counts as a failed site.
    Fail,
}

/// The gate every wave passes through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveGate {
    /// Sites that must have stayed healthy at the new generation for the bake time before the
    /// next wave starts.
    pub success: Threshold,
    /// Failed sites that abort the rollout (at least one).
    pub failure: Threshold,
    /// How long a site must stay healthy at the new generation before it counts as succeeded.
    pub bake_ms: u64,
    /// How long a started site may stay unheard before it counts as not reporting.
    pub report_timeout_ms: u64,
    /// What a site that is not reporting does to its wave.
    pub silent: SilentPolicy,
    /// Failed attempts at the new generation after which a site falls back by itself.
    pub fall_back_after: u32,
}

/// Largest rollout strategy accepted, in bytes of JSON.
pub const MAX_STRATEGY_BYTES: usize = 64 * 1024;

impl Strategy {
    /// Reads a strategy from its JSON form (`field` names it in errors) and checks it; `None`
    /// for an empty text.
    pub fn parse(field: &str, json: &str) -> Result<Option<Self>, FieldError> {
        if json.trim().is_empty() {
            return Ok(None);
        }
        if json.len() > MAX_STRATEGY_BYTES {
            return Err(FieldError::new(
                field,
                format!("larger than {MAX_STRATEGY_BYTES} bytes"),
            ));
        }
        let strategy: Self = serde_json::from_str(json)
            .map_err(|e| FieldError::new(field, format!("not a rollout strategy: {e}")))?;
        strategy.validate().map_err(|e| e.within(field))?;
        Ok(Some(strategy))
    }

    /// Checks every field; the error names the first one refused and why.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_sizes(&self.waves).map_err(|e| e.within("waves"))?;
        if let Some(c) = &self.canary {
            validate_label(c).map_err(|e| e.within("canary"))?;
        }
        validate_order(&self.order).map_err(|e| e.within("order"))?;
        self.gate.validate().map_err(|e| e.within("gate"))?;
        if self.max_changing == 0 || self.max_changing > MAX_COUNT {
            return Err(FieldError::new(
                "max_changing",
                format!("must be between 1 and {MAX_COUNT}"),
            ));
        }
        Ok(())
    }
}

impl WaveGate {
    /// Checks the gate's fields.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_threshold(self.success, 0).map_err(|e| e.within("success"))?;
        validate_threshold(self.failure, 1).map_err(|e| e.within("failure"))?;
        if self.bake_ms > MAX_DURATION_MS {
            return Err(FieldError::new(
                "bake_ms",
                format!("must be at most {MAX_DURATION_MS} ms"),
            ));
        }
        if !(MIN_REPORT_TIMEOUT_MS..=MAX_DURATION_MS).contains(&self.report_timeout_ms) {
            return Err(FieldError::new(
                "report_timeout_ms",
                format!("must be between {MIN_REPORT_TIMEOUT_MS} and {MAX_DURATION_MS} ms"),
            ));
        }
        if self.fall_back_after == 0 || self.fall_back_after > MAX_FALL_BACK_AFTER {
            return Err(FieldError::new(
                "fall_back_after",
                format!("must be between 1 and {MAX_FALL_BACK_AFTER}"),
            ));
        }
        Ok(())
    }
}

fn validate_sizes(sizes: &WaveSizes) -> Result<(), FieldError> {
    let (name, values, min, max) = match sizes {
        WaveSizes::Counts(v) => ("counts", v, 1, MAX_COUNT),
        WaveSizes::Percentages(v) => ("percentages", v, 1, 100),
    };
    if values.is_empty() || values.len() > MAX_WAVES {
        return Err(FieldError::new(
            name,
            format!("must hold between 1 and {MAX_WAVES} waves"),
        ));
    }
    for (i, v) in values.iter().enumerate() {
        if !(min..=max).contains(v) {
            return Err(FieldError::new(
                format!("{name}[{i}]"),
                format!("must be between {min} and {max}"),
            ));
        }
    }
    if matches!(sizes, WaveSizes::Percentages(_)) && values.iter().sum::<u32>() > 100 {
        return Err(FieldError::new(name, "must add up to at most 100"));
    }
    Ok(())
}

fn validate_label_key(field: &str, key: &str) -> Result<(), FieldError> {
    if key.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    check_text(field, key, MAX_LINE_BYTES, Lines::One)
}

fn validate_label(label: &LabelMatch) -> Result<(), FieldError> {
    validate_label_key("key", &label.key)?;
    check_text("value", &label.value, MAX_LINE_BYTES, Lines::One)
}

fn validate_order(order: &SiteOrder) -> Result<(), FieldError> {
    if order.first.len() > MAX_ORDER_KEYS {
        return Err(FieldError::new(
            "first",
            format!("more than {MAX_ORDER_KEYS} labels"),
        ));
    }
    for (i, l) in order.first.iter().enumerate() {
        validate_label(l).map_err(|e| e.within(&format!("first[{i}]")))?;
    }
    if order.by.len() > MAX_ORDER_KEYS {
        return Err(FieldError::new(
            "by",
            format!("more than {MAX_ORDER_KEYS} keys"),
        ));
    }
    for (i, k) in order.by.iter().enumerate() {
        validate_label_key(&format!("by[{i}]"), k)?;
    }
    Ok(())
}

/// A threshold is a finite fraction in 0..=1, or a count of at least `min_count`.
fn validate_threshold(t: Threshold, min_count: u32) -> Result<(), FieldError> {
    match t {
        Threshold::Fraction(f) if !f.is_finite() || !(0.0..=1.0).contains(&f) => Err(
            FieldError::new("fraction", "must be a number between 0 and 1"),
        ),
        Threshold::Count(c) if c < min_count || c > MAX_COUNT => Err(FieldError::new(
            "count",
            format!("must be between {min_count} and {MAX_COUNT}"),
        )),
        _ => Ok(()),
    }
}
