use super::*;
use serde_json::json;

fn declared(v: Value) -> Declared {
    let n = |k: &str| v.get(k).and_then(Value::as_number).cloned();
    Declared {
        min: n("min"),
        max: n("max"),
        max_length: v.get("maxLength").and_then(Value::as_u64),
        pattern: v.get("pattern").and_then(Value::as_str).map(String::from),
        one_of: v.get("enum").and_then(Value::as_array).cloned(),
        multiline: v.get("multiline").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn replicas() -> Constraints {
    Constraints::builtin(ValueType::Integer)
        .for_replicas()
        .unwrap()
}

#[test]
fn replicas_are_bounded_by_what_a_site_accepts() {
    // The values a site refused long after the order was accepted.
    for (v, got) in [
        (json!(-1), "-1"),
        (json!(2_147_483_648_i64), "2147483648"),
        (json!(1_000_000_000), "1000000000"),
    ] {
        assert_eq!(
            replicas().check(&v),
            Err(format!("must be between 0 and 256, got {got}"))
        );
    }
    assert_eq!(replicas().check(&json!(0)), Ok(()));
    assert_eq!(replicas().check(&json!(256)), Ok(()));
    let narrow = Constraints::new(ValueType::Integer, declared(json!({"min": 1, "max": 8})))
        .unwrap()
        .for_replicas()
        .unwrap();
    assert_eq!(
        narrow.check(&json!(9)),
        Err("must be between 1 and 8, got 9".into())
    );
    let too_many = Constraints::new(ValueType::Integer, declared(json!({"max": 1000})))
        .unwrap()
        .for_replicas()
        .unwrap_err();
    assert_eq!(too_many.field, "max");
    assert!(
        Constraints::builtin(ValueType::String)
            .for_replicas()
            .is_err()
    );
}

#[test]
fn integers_fit_64_bits_and_numbers_their_bounds() {
    let int = Constraints::builtin(ValueType::Integer);
    assert!(int.check(&json!(u64::MAX)).unwrap_err().contains("64-bit"));
    assert_eq!(int.check(&json!(i64::MIN)), Ok(()));
    let n = Constraints::new(ValueType::Number, declared(json!({"min": 0.5}))).unwrap();
    assert_eq!(
        n.check(&json!(0.25)),
        Err("must be at least 0.5, got 0.25".into())
    );
    assert_eq!(n.check(&json!(1)), Ok(()));
}

#[test]
fn strings_have_a_length_no_control_characters_and_a_pattern() {
    let s = Constraints::builtin(ValueType::String);
    assert_eq!(
        s.check(&json!("tab\tand unicode 世界 'quotes' $(x)")),
        Ok(())
    );
    assert!(
        s.check(&json!("x".repeat(DEFAULT_MAX_LENGTH + 1)))
            .unwrap_err()
            .contains("at most 1024 bytes")
    );
    assert!(s.check(&json!("a\0b")).unwrap_err().contains("NUL"));
    assert!(s.check(&json!("a\nb")).unwrap_err().contains("one line"));
    assert!(
        s.check(&json!("a\u{1b}[2J"))
            .unwrap_err()
            .contains("U+001B")
    );
    let multi = Constraints::new(ValueType::String, declared(json!({"multiline": true}))).unwrap();
    assert_eq!(multi.check(&json!("a\nb")), Ok(()));
    assert!(multi.check(&json!("a\rb")).is_err());
    let p = Constraints::new(
        ValueType::String,
        declared(json!({"pattern": "[a-z]+", "maxLength": 4})),
    )
    .unwrap();
    assert_eq!(p.check(&json!("abc")), Ok(()));
    assert!(p.check(&json!("a;b")).unwrap_err().contains("pattern"));
    assert!(p.check(&json!("abcde")).unwrap_err().contains("at most 4"));
    let e = Constraints::new(ValueType::String, declared(json!({"enum": ["a", "b"]}))).unwrap();
    assert_eq!(
        e.check(&json!("c")),
        Err("must be one of \"a\", \"b\", got \"c\"".into())
    );
}

#[test]
fn bad_declarations_name_the_field() {
    for (ty, d, field) in [
        (ValueType::Integer, json!({"min": 5, "max": 1}), "min"),
        (ValueType::Integer, json!({"min": 0.5}), "min"),
        (ValueType::String, json!({"max": 1}), "max"),
        (ValueType::Integer, json!({"pattern": "x"}), "pattern"),
        (
            ValueType::String,
            json!({"pattern": "(unclosed"}),
            "pattern",
        ),
        (ValueType::String, json!({"maxLength": 0}), "maxLength"),
        (
            ValueType::String,
            json!({"maxLength": 1_000_000}),
            "maxLength",
        ),
        (ValueType::Boolean, json!({"multiline": true}), "multiline"),
        (ValueType::String, json!({"enum": []}), "enum"),
        (ValueType::String, json!({"enum": ["a", 1]}), "enum[1]"),
        (
            ValueType::String,
            json!({"enum": ["ok", "BAD"], "pattern": "[a-z]+"}),
            "enum[1]",
        ),
    ] {
        let e = Constraints::new(ty, declared(d.clone())).unwrap_err();
        assert_eq!(e.field, field, "{d}: {e}");
    }
}
