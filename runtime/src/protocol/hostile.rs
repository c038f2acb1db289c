//! Property tests: generated hostile V1 and V2 bodies (random and huge shapes, unknown
//! datatypes, wrong data lengths, random `binary_data_size`, deep nesting, truncation) never
//! panic the decoders; each is decoded or refused as a bad request, and every tensor that
//! is accepted holds exactly the bytes its shape and datatype describe.

use super::v1::decode_v1_floats;
use super::{v1, v2};
use crate::request::{InferenceError, Payload};
use crate::tensor::json::decode_nested;
use crate::tensor::{Datatype, MAX_RANK, Tensor, element_count, split_bytes};
use proptest::prelude::*;
use serde_json::{Value, json};

/// What an accepted tensor must satisfy.
fn consistent(t: &Tensor) -> Result<(), TestCaseError> {
    prop_assert!(t.shape.len() <= MAX_RANK, "{:?}", t.shape);
    prop_assert!(!t.shape.contains(&0), "{:?}", t.shape);
    let count = element_count(&t.shape).map_err(|e| TestCaseError::fail(e.0))?;
    match t.datatype.size() {
        Some(size) => prop_assert_eq!(Some(t.data.len()), count.checked_mul(size)),
        None => prop_assert_eq!(split_bytes(&t.data).map(|e| e.len()).ok(), Some(count)),
    }
    Ok(())
}

fn bad_request<T>(r: &Result<T, InferenceError>) -> Result<(), TestCaseError> {
    match r {
        Ok(_) | Err(InferenceError::BadRequest(_)) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("not a bad request: {e}"))),
    }
}

/// Dimensions as an attacker picks them: small, zero, and sizes no body could fill.
fn dim() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 1u64..5,
        1 => Just(0u64),
        1 => Just(1u64 << 55),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn datatype_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(Datatype::ALL.to_vec()).prop_map(|d| d.name().to_string()),
        1 => prop::sample::select(vec!["FP33", "bf16", "", "INT128", "BYTES\0"])
            .prop_map(str::to_string),
    ]
}

/// JSON leaves of every kind a client may send, for any datatype.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<bool>().prop_map(Value::from),
        "[a-z]{0,4}".prop_map(Value::from),
        Just(json!({"b64": "aGk="})),
        Just(json!({"b64": "not base64!"})),
        Just(Value::Null),
        Just(json!("NaN")),
    ]
}

/// Arrays of leaves, regular or not, some nested deeply.
fn data() -> impl Strategy<Value = Value> {
    let nested = leaf().prop_recursive(4, 64, 6, |inner| {
        prop::collection::vec(inner, 0..6).prop_map(Value::Array)
    });
    (nested, 0usize..80).prop_map(|(v, wrap)| {
        // Wrapping in many levels: past serde's recursion limit and the depth check.
        (0..wrap % 70).fold(v, |v, _| json!([v]))
    })
}

/// One V2 input, in JSON, and the binary bytes it claims (when it uses the extension).
fn v2_input() -> impl Strategy<Value = (Value, Vec<u8>)> {
    (
        prop::collection::vec(dim(), 0..40),
        datatype_name(),
        data(),
        prop::option::of(prop_oneof![0u64..64, Just(u64::MAX), any::<u64>()]),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(shape, datatype, data, binary_size, bytes)| match binary_size {
                Some(size) => (
                    json!({"name": "x", "shape": shape, "datatype": datatype,
                       "parameters": {"binary_data_size": size}}),
                    bytes,
                ),
                None => (
                    json!({"name": "x", "shape": shape, "datatype": datatype, "data": data}),
                    Vec::new(),
                ),
            },
        )
}

fn check_v2(body: &[u8], json_length: Option<usize>) -> Result<(), TestCaseError> {
    let decoded = v2::decode(body, json_length);
    bad_request(&decoded)?;
    if let Ok(v2::Decoded {
        payload: Payload::Tensors { inputs, .. },
        ..
    }) = &decoded
    {
        inputs.iter().try_for_each(consistent)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v2_bodies_are_decoded_or_refused(
        inputs in prop::collection::vec(v2_input(), 1..3),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let header = json!({"inputs": inputs.iter().map(|(j, _)| j).collect::<Vec<_>>()})
            .to_string();
        let mut body = header.clone().into_bytes();
        for (_, bytes) in &inputs {
            body.extend_from_slice(bytes);
        }
        let binary = inputs.iter().any(|(_, b)| !b.is_empty());
        let json_length = binary.then_some(header.len());
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        check_v2(&body, json_length)?;
        // A binary header that lies about the JSON part's length.
        check_v2(&body, Some(cut.index(body.len() + 8)))?;
    }

    #[test]
    fn v1_bodies_are_decoded_or_refused(
        instances in data(),
        key in prop::sample::select(vec!["instances", "inputs", "signature_name", "x"]),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        datatype in prop::sample::select(Datatype::ALL.to_vec()),
    ) {
        let mut body = json!({ key: instances }).to_string().into_bytes();
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        bad_request(&v1::decode(&body))?;
        if let Some((t, _)) = decode_v1_floats("x", datatype, &body) {
            consistent(&t)?;
        }
        if let Ok(t) = decode_nested("x", datatype, &instances) {
            consistent(&t)?;
        }
    }
}

#[test]
fn the_body_that_aborted_the_process_is_a_bad_request() {
    let body =
        br#"{"inputs":[{"name":"x","shape":[36028797018963968],"datatype":"FP32","data":[1]}]}"#;
    let Err(InferenceError::BadRequest(m)) = v2::decode(body, None) else {
        panic!("accepted")
    };
    assert!(m.contains("do not fill shape [36028797018963968]"), "{m}");
}

#[test]
fn hostile_binary_sizes_are_bad_requests() {
    let cases: Vec<(Value, Vec<u8>, &str)> = vec![
        (
            json!({"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES",
                "parameters": {"binary_data_size": 8}}]}),
            // One BYTES element that claims 4 GiB.
            vec![0xff, 0xff, 0xff, 0xff, b'a', b'b', b'c', b'd'],
            "ends inside an element",
        ),
        (
            json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                "parameters": {"binary_data_size": u64::MAX}}]}),
            vec![0; 8],
            "runs past the end",
        ),
        (
            json!({"inputs": [{"name": "x", "shape": [0, 4], "datatype": "FP32",
                "parameters": {"binary_data_size": 0}}]}),
            vec![],
            "zero dimension",
        ),
        (
            json!({"inputs": [{"name": "x", "shape": [1u64 << 61, 4], "datatype": "FP32",
                "parameters": {"binary_data_size": 8}}]}),
            vec![0; 8],
            "too large",
        ),
    ];
    for (header, binary, says) in cases {
        let header = header.to_string();
        let mut body = header.clone().into_bytes();
        body.extend_from_slice(&binary);
        let json_length = (!binary.is_empty()).then_some(header.len());
        let Err(InferenceError::BadRequest(m)) = v2::decode(&body, json_length) else {
            panic!("accepted: {header}")
        };
        assert!(m.contains(says), "{header}: {m}");
    }
}

#[test]
fn deep_bodies_are_bad_requests_before_reaching_a_guest() {
    let deep = format!(
        r#"{{"instances": {}1{}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let Err(InferenceError::BadRequest(m)) = v1::decode(deep.as_bytes()) else {
        panic!("a 1,000-level body was passed on")
    };
    assert!(m.contains("levels deep"), "{m}");
    let deep = format!(
        r#"{{"inputs": [{{"name": "x", "shape": [1], "datatype": "FP32", "data": {}1{}}}]}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let Err(InferenceError::BadRequest(m)) = v2::decode(deep.as_bytes(), None) else {
        panic!("accepted")
    };
    assert!(m.contains("levels deep"), "{m}");
}
