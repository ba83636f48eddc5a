//! The canonical JSON (RFC 8785) crate, serde_json_canonicalizer, against
//! the RFC's published examples: the test data of the RFC authors' reference
//! repository (cyberphone/json-canonicalization, testdata/, commit
//! 19d51d7fe467d4706a3ff08adf8a748f29fc21e0; `values` is the example of
//! RFC 8785 section 3.2.2 and `weird` extends the sorting example of section
//! 3.2.3) and the number samples of RFC 8785 Appendix B.

use serde_json::Value;

fn canonical(input: &str) -> String {
    let v: Value = serde_json::from_str(input).unwrap();
    serde_json_canonicalizer::to_string(&v).unwrap()
}

#[test]
fn rfc8785_values_example() {
    let input = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    let expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(canonical(input), expected);
    // The published bytes (outhex/values.txt).
    assert_eq!(
        hex::encode(canonical(input)),
        "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d62657273223a5b3333333333333333332e333333333333332c31652b33302c342e352c302e3030322c31652d32375d2c22737472696e67223a22e282ac245c75303030665c6e4127425c225c5c5c5c5c222f227d"
    );
}

#[test]
fn rfc8785_sorting_by_utf16_code_units() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\u000a": "Newline",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}"#;
    let expected = "{\"\\n\":\"Newline\",\"\\r\":\"Carriage Return\",\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canonical(input), expected);
}

#[test]
fn rfc8785_arrays_structures_french_unicode() {
    for (input, expected) in [
        (
            "[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]",
            r#"[56,{"1":[],"10":null,"d":true}]"#,
        ),
        (
            r#"{
  "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0},
  "10": { },
  "": "empty",
  "a": { },
  "111": [ {"e": "yes","E": "no" } ],
  "A": { }
}"#,
            r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}"#,
        ),
        (
            "{\n  \"peach\": \"This sorting order\",\n  \"p\u{e9}ch\u{e9}\": \"is wrong according to French\",\n  \"p\u{ea}che\": \"but canonicalization MUST\",\n  \"sin\":   \"ignore locale\"\n}",
            "{\"peach\":\"This sorting order\",\"p\u{e9}ch\u{e9}\":\"is wrong according to French\",\"p\u{ea}che\":\"but canonicalization MUST\",\"sin\":\"ignore locale\"}",
        ),
        (
            "{\n  \"Unnormalized Unicode\":\"A\\u030a\"\n}",
            "{\"Unnormalized Unicode\":\"A\u{30a}\"}",
        ),
    ] {
        assert_eq!(canonical(input), expected);
    }
}

#[test]
fn rfc8785_appendix_b_numbers() {
    for (ieee, expected) in [
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ] {
        let f = f64::from_bits(u64::from_str_radix(ieee, 16).unwrap());
        let v = serde_json::json!([f]);
        assert_eq!(
            serde_json_canonicalizer::to_string(&v).unwrap(),
            format!("[{expected}]"),
            "{ieee}"
        );
    }
}

#[test]
fn rfc8785_refuses_non_finite_numbers() {
    // NaN and Infinity (7fffffffffffffff, 7ff0000000000000) are not JSON:
    // serde_json cannot even hold them, and the canonicalizer refuses f64s.
    assert!(serde_json_canonicalizer::to_string(&f64::NAN).is_err());
    assert!(serde_json_canonicalizer::to_string(&f64::INFINITY).is_err());
}
