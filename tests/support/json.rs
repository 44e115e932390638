//! Reading the binary's JSON output.

use serde_json::Value;

/// A plausible epoch-millisecond time (after 2020, before 2100).
#[track_caller]
pub fn assert_epoch_ms(v: &Value) {
    let ms = v.as_i64().unwrap_or_else(|| panic!("epoch ms, got {v}"));
    assert!(
        (1_577_836_800_000..4_102_444_800_000).contains(&ms),
        "epoch milliseconds, got {ms}"
    );
}

/// The array of a JSON document, or a panic naming what it was.
pub fn array(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("a JSON array, got {v}"))
}

/// The given field of every element.
pub fn field<'a>(rows: &'a Value, key: &str) -> Vec<&'a Value> {
    array(rows).iter().map(|r| &r[key]).collect()
}

/// The `bookmaker` of every element, as strings.
pub fn names(rows: &Value) -> Vec<String> {
    field(rows, "bookmaker")
        .iter()
        .map(|v| v.as_str().expect("bookmaker string").to_owned())
        .collect()
}
