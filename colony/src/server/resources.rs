//! Resource requests of a function spec, stored as upstream stores them: CPU in millicores
//! (`"<n>m"`, anything without the `m` suffix counts as 0) and memory, storage and GPU memory in
//! MiB (`"<n>Mi"`, from K/M/G/T and Ki/Mi/Gi/Ti units; empty is 0).

use serde_json::Value;

use crate::model::Conditions;

use super::error::ApiError;

const KI: i64 = 1024;
const K: i64 = 1000;

/// Units and their byte factors; longer suffixes first so `MiB` wins over `B`-less forms.
const UNITS: &[(&str, i64)] = &[
    ("KiB", KI),
    ("MiB", KI * KI),
    ("GiB", KI * KI * KI),
    ("TiB", KI * KI * KI * KI),
    ("Ki", KI),
    ("Mi", KI * KI),
    ("Gi", KI * KI * KI),
    ("KB", K),
    ("Kb", K),
    ("MB", K * K),
    ("Mb", K * K),
    ("Gb", K * K * K),
    ("TB", K * K * K * K),
    ("Tb", K * K * K * K),
    ("K", K),
    ("M", K * K),
    ("G", K * K * K),
];

fn cpu_millis(field: &str, cpu: &str) -> Result<i64, ApiError> {
    let Some(number) = cpu.strip_suffix('m') else {
        return Ok(0);
    };
    number
        .parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("Invalid {field}: {cpu:?} is not <n>m")))
}

fn memory_bytes(field: &str, mem: &str) -> Result<i64, ApiError> {
    if mem.is_empty() {
        return Ok(0);
    }
    let invalid = || {
        ApiError::bad_request(format!(
            "Invalid {field}: {mem:?} is not a number with a unit (Ki, Mi, Gi, K, M, G, ...)"
        ))
    };
    let (number, factor) = UNITS
        .iter()
        .find_map(|(unit, factor)| mem.strip_suffix(unit).map(|n| (n, *factor)))
        .ok_or_else(invalid)?;
    let n: i64 = number.parse().map_err(|_| invalid())?;
    n.checked_mul(factor).ok_or_else(invalid)
}

fn mebibytes(field: &str, mem: &str) -> Result<String, ApiError> {
    Ok(format!("{}Mi", memory_bytes(field, mem)? / (KI * KI)))
}

/// Rewrites the resource requests of `c` into upstream's stored form.
pub(crate) fn normalise(c: &mut Conditions) -> Result<(), ApiError> {
    c.cpu = format!("{}m", cpu_millis("spec.conditions.cpu", &c.cpu)?);
    c.mem = mebibytes("spec.conditions.mem", &c.mem)?;
    c.storage = mebibytes("spec.conditions.storage", &c.storage)?;
    if let Some(gpu) = c.gpu.as_object_mut() {
        let mem = gpu.get("mem").and_then(Value::as_str).unwrap_or_default();
        let normalised = mebibytes("spec.conditions.gpu.mem", mem)?;
        gpu.insert("mem".into(), Value::String(normalised));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_stored_in_millicores_and_mebibytes() {
        let mut c = Conditions {
            cpu: "1500m".into(),
            mem: "2Gi".into(),
            storage: "10G".into(),
            ..Conditions::default()
        };
        normalise(&mut c).unwrap();
        assert_eq!((c.cpu.as_str(), c.mem.as_str()), ("1500m", "2048Mi"));
        assert_eq!(c.storage, "9536Mi");
        assert_eq!(c.gpu["mem"], "0Mi");
        let mut empty = Conditions::default();
        normalise(&mut empty).unwrap();
        assert_eq!((empty.cpu.as_str(), empty.mem.as_str()), ("0m", "0Mi"));
        let mut bad = Conditions {
            mem: "lots".into(),
            ..Conditions::default()
        };
        assert_eq!(normalise(&mut bad).unwrap_err().status, 400);
    }
}
