//! `healthCheck` of a container: a probe the engine runs inside the container (an argument
//! vector, never a shell string), and how long a rollout waits for a new container to pass it.
//!
//! ```json
//! "healthCheck": {"command": ["/bin/cat", "/tmp/ready"], "intervalSeconds": 10,
//!                 "timeoutSeconds": 5, "retries": 3, "startPeriodSeconds": 0}
//! ```

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{string_list, uint};

/// Bounds of the settings, in seconds (retries: a count). They bound how long one rollout step
/// may wait, see [`HealthCheck::deadline`].
const INTERVAL: (u64, u64, u64) = (1, 60, 10);
const TIMEOUT: (u64, u64, u64) = (1, 60, 5);
const RETRIES: (u64, u64, u64) = (1, 10, 3);
const START_PERIOD: (u64, u64, u64) = (0, 600, 0);
/// Slack over the engine's own schedule before a wait gives up.
const SLACK: Duration = Duration::from_secs(5);

/// A container's health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The probe's argument vector (the engine runs it as `["CMD", ...]`).
    pub command: Vec<String>,
    /// Time between probes.
    pub interval: Duration,
    /// Time one probe may take.
    pub timeout: Duration,
    /// Consecutive failures that make the container unhealthy.
    pub retries: u32,
    /// Time after start during which failures do not count.
    pub start_period: Duration,
}

impl HealthCheck {
    /// How long a new container may take to become healthy before the rollout gives up on it:
    /// the start period, then `retries + 1` probe rounds, plus slack. At most about 32 minutes.
    pub fn deadline(&self) -> Duration {
        self.start_period + (self.interval + self.timeout) * (self.retries + 1) + SLACK
    }

    /// The engine's `Test` field.
    pub fn engine_test(&self) -> Vec<String> {
        std::iter::once("CMD".to_string())
            .chain(self.command.iter().cloned())
            .collect()
    }

    /// Canonical form for the container's template hash.
    pub fn canonical(&self) -> Value {
        json!({
            "command": self.command,
            "intervalMs": self.interval.as_millis() as u64,
            "timeoutMs": self.timeout.as_millis() as u64,
            "retries": self.retries,
            "startPeriodMs": self.start_period.as_millis() as u64,
        })
    }
}

/// `<path>.healthCheck` of `o`, if any; the error names the field.
pub(super) fn health_check(
    o: &Map<String, Value>,
    path: &str,
) -> Result<Option<HealthCheck>, String> {
    let path = format!("{path}.healthCheck");
    let h = match o.get("healthCheck") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(h)) => h,
        Some(_) => return Err(format!("{path}: not an object")),
    };
    for key in h.keys() {
        if ![
            "command",
            "intervalSeconds",
            "timeoutSeconds",
            "retries",
            "startPeriodSeconds",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("{path}.{key}: unknown field"));
        }
    }
    let command = match h.get("command") {
        None | Some(Value::Null) => return Err(format!("{path}.command: required")),
        Some(v) => string_list(v, &format!("{path}.command"))?,
    };
    if command.first().is_none_or(|c| c.trim().is_empty()) {
        return Err(format!(
            "{path}.command: the first element names the program"
        ));
    }
    if let Some(i) = command.iter().position(|a| a.contains('\0')) {
        return Err(format!("{path}.command[{i}]: contains a NUL byte"));
    }
    let number = |key: &str, (min, max, default): (u64, u64, u64)| -> Result<u64, String> {
        match h.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => uint(v)
                .filter(|n| (min..=max).contains(n))
                .ok_or(format!("{path}.{key}: an integer from {min} to {max}")),
        }
    };
    Ok(Some(HealthCheck {
        command,
        interval: Duration::from_secs(number("intervalSeconds", INTERVAL)?),
        timeout: Duration::from_secs(number("timeoutSeconds", TIMEOUT)?),
        retries: u32::try_from(number("retries", RETRIES)?).unwrap_or(u32::MAX),
        start_period: Duration::from_secs(number("startPeriodSeconds", START_PERIOD)?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Option<HealthCheck>, String> {
        let o = json!({ "healthCheck": v });
        health_check(o.as_object().unwrap(), "spec.instances[0]")
    }

    #[test]
    fn defaults_and_deadline() {
        let h = parse(json!({"command": ["/bin/cat", "/tmp/ready"]}))
            .unwrap()
            .unwrap();
        assert_eq!(h.interval, Duration::from_secs(10));
        assert_eq!(h.timeout, Duration::from_secs(5));
        assert_eq!(h.retries, 3);
        assert_eq!(h.start_period, Duration::ZERO);
        assert_eq!(h.deadline(), Duration::from_secs(15 * 4 + 5));
        assert_eq!(h.engine_test(), ["CMD", "/bin/cat", "/tmp/ready"]);
    }

    #[test]
    fn errors_name_the_field() {
        let err = |v: Value| parse(v).unwrap_err();
        assert_eq!(
            err(json!({})),
            "spec.instances[0].healthCheck.command: required"
        );
        assert!(err(json!({"command": []})).contains("first element"));
        assert!(err(json!({"command": ["a\0b"]})).contains("command[0]: contains a NUL"));
        assert!(
            err(json!({"command": ["x"], "intervalSeconds": 0}))
                .contains("healthCheck.intervalSeconds: an integer from 1 to 60")
        );
        assert!(err(json!({"command": ["x"], "retries": 11})).contains("retries"));
        assert!(err(json!({"command": ["x"], "test": "CMD-SHELL"})).contains("test: unknown"));
        assert!(err(json!("curl localhost")).contains("not an object"));
    }
}
