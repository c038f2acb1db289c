//! The records of the inference log, in the two `inferencelog` schemas of the seed, encoded
//! as one schemaless Avro binary datum each (what Hopsworks users' consumers decode: no
//! container header, no schema-registry prefix) or as JSON text.
//!
//! - KServe style (the default): one record for the request and one for the response,
//!   sharing an `inferenceId`, `messageType` `"request"`/`"response"`, `payload` the body.
//! - Docker/Kubernetes style: one record with `inferenceRequest` and `inferenceResponse`.

use super::Exchange;
use crate::definition::{LogFormat, LogSchema, LoggerMode};
use apache_avro::Schema;
use serde::Serialize;
use std::sync::LazyLock;

/// The seed's KServe `inferencelog` schema.
pub const KSERVE_SCHEMA: &str = r#"{
    "fields": [
        { "name": "servingId", "type": "int" },
        { "name": "modelName", "type": "string" },
        { "name": "modelVersion", "type": "int" },
        { "name": "requestTimestamp", "type": "long" },
        { "name": "responseHttpCode", "type": "int" },
        { "name": "inferenceId", "type": "string" },
        { "name": "messageType", "type": "string" },
        { "name": "payload", "type": "string" }
    ],
    "name": "inferencelog",
    "type": "record"
}"#;

/// The seed's Docker/Kubernetes `inferencelog` schema.
pub const DOCKER_SCHEMA: &str = r#"{
    "fields": [
        { "name": "modelId", "type": "int" },
        { "name": "modelName", "type": "string" },
        { "name": "modelVersion", "type": "int" },
        { "name": "requestTimestamp", "type": "long" },
        { "name": "responseHttpCode", "type": "int" },
        { "name": "inferenceRequest", "type": "string" },
        { "name": "inferenceResponse", "type": "string" },
        { "name": "modelServer", "type": "string" },
        { "name": "servingTool", "type": "string" }
    ],
    "name": "inferencelog",
    "type": "record"
}"#;

static KSERVE: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(KSERVE_SCHEMA).expect("the seed's schema parses"));
static DOCKER: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(DOCKER_SCHEMA).expect("the seed's schema parses"));

/// What every record of a deployment shares.
#[derive(Clone, Debug)]
pub struct RecordContext {
    /// `servingId` / `modelId`.
    pub serving_id: i32,
    pub model_name: String,
    pub model_version: i32,
    /// `modelServer` and `servingTool` (Docker/Kubernetes schema).
    pub model_server: String,
    pub serving_tool: String,
    pub mode: LoggerMode,
    pub schema: LogSchema,
    pub format: LogFormat,
}

/// How many records one exchange gives.
pub fn count(ctx: &RecordContext) -> u64 {
    match (ctx.mode, ctx.schema) {
        (LoggerMode::None, _) => 0,
        (LoggerMode::All, LogSchema::Kserve) => 2,
        _ => 1,
    }
}

/// One encoded record: the message key (the inference id) and its value.
pub struct Encoded {
    pub key: String,
    pub value: Vec<u8>,
}

/// The KServe-style record, borrowing the exchange (field order is the schema's).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KserveRecord<'a> {
    serving_id: i32,
    model_name: &'a str,
    model_version: i32,
    request_timestamp: i64,
    response_http_code: i32,
    inference_id: &'a str,
    message_type: &'a str,
    payload: &'a str,
}

/// The Docker/Kubernetes-style record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DockerRecord<'a> {
    model_id: i32,
    model_name: &'a str,
    model_version: i32,
    request_timestamp: i64,
    response_http_code: i32,
    inference_request: &'a str,
    inference_response: &'a str,
    model_server: &'a str,
    serving_tool: &'a str,
}

/// The records `exchange` gives under the deployment's mode and schema (none for NONE),
/// encoded as `format`: serialized straight from borrowed fields, with no intermediate
/// value tree (this runs for every logged request).
pub fn records(ctx: &RecordContext, exchange: &Exchange, format: LogFormat) -> Vec<Encoded> {
    let (log_request, log_response) = match ctx.mode {
        LoggerMode::None => return Vec::new(),
        LoggerMode::All => (true, true),
        LoggerMode::ModelInputs => (true, false),
        LoggerMode::Predictions => (false, true),
    };
    // Bodies are JSON, so UTF-8; anything else is logged with replacement characters.
    let request = String::from_utf8_lossy(&exchange.request);
    let response = String::from_utf8_lossy(&exchange.response);
    let id = exchange.inference_id.as_str();
    let code = i32::from(exchange.status);
    let mut out = Vec::with_capacity(2);
    match ctx.schema {
        LogSchema::Kserve => {
            for (wanted, message_type, payload) in [
                (log_request, "request", &request),
                (log_response, "response", &response),
            ] {
                if wanted {
                    let record = KserveRecord {
                        serving_id: ctx.serving_id,
                        model_name: &ctx.model_name,
                        model_version: ctx.model_version,
                        request_timestamp: exchange.request_timestamp,
                        response_http_code: code,
                        inference_id: id,
                        message_type,
                        payload,
                    };
                    out.push(encode(format, &KSERVE, id, &record));
                }
            }
        }
        LogSchema::Docker => {
            let record = DockerRecord {
                model_id: ctx.serving_id,
                model_name: &ctx.model_name,
                model_version: ctx.model_version,
                request_timestamp: exchange.request_timestamp,
                response_http_code: code,
                inference_request: if log_request { &request } else { "" },
                inference_response: if log_response { &response } else { "" },
                model_server: &ctx.model_server,
                serving_tool: &ctx.serving_tool,
            };
            out.push(encode(format, &DOCKER, id, &record));
        }
    }
    out
}

fn encode(format: LogFormat, schema: &Schema, key: &str, record: &impl Serialize) -> Encoded {
    let mut value = Vec::with_capacity(256);
    match format {
        LogFormat::Avro => {
            apache_avro::write_avro_datum_ref(schema, record, &mut value)
                .expect("the record matches its schema by construction");
        }
        LogFormat::Json => serde_json::to_writer(&mut value, record).expect("JSON serializes"),
    }
    Encoded {
        key: key.to_string(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::from_avro_datum;
    use apache_avro::types::Value as Avro;
    use bytes::Bytes;

    fn exchange() -> Exchange {
        Exchange {
            inference_id: "2b7c2a44-3f0e-4bde-9f57-0c7d1b2e9a10".into(),
            request_timestamp: 1_764_000_000,
            status: 200,
            request: Bytes::from_static(br#"{"instances": [[1.0, 2.0]]}"#),
            response: Bytes::from_static(br#"{"predictions": [1]}"#),
            headers: Vec::new(),
        }
    }

    fn ctx(mode: LoggerMode, schema: LogSchema, format: LogFormat) -> RecordContext {
        RecordContext {
            serving_id: 7,
            model_name: "iris".into(),
            model_version: 3,
            model_server: "PYTHON".into(),
            serving_tool: "KSERVE".into(),
            mode,
            schema,
            format,
        }
    }

    fn decode(schema: &Schema, bytes: &[u8]) -> Vec<(String, Avro)> {
        let mut reader = bytes;
        let Avro::Record(fields) = from_avro_datum(schema, &mut reader, None).unwrap() else {
            panic!("a record")
        };
        assert!(reader.is_empty(), "one datum, nothing after it");
        fields
    }

    #[test]
    fn kserve_style_is_a_request_and_a_response_record_sharing_the_id() {
        let r = records(
            &ctx(LoggerMode::All, LogSchema::Kserve, LogFormat::Avro),
            &exchange(),
            LogFormat::Avro,
        );
        assert_eq!(r.len(), 2);
        let request = decode(&KSERVE, &r[0].value);
        let response = decode(&KSERVE, &r[1].value);
        assert_eq!(request[0], ("servingId".into(), Avro::Int(7)));
        assert_eq!(
            request[3],
            ("requestTimestamp".into(), Avro::Long(1_764_000_000))
        );
        assert_eq!(request[5].1, response[5].1, "the pair shares inferenceId");
        assert_eq!(request[6].1, Avro::String("request".into()));
        assert_eq!(
            request[7].1,
            Avro::String(r#"{"instances": [[1.0, 2.0]]}"#.into())
        );
        assert_eq!(response[6].1, Avro::String("response".into()));
        assert_eq!(
            response[7].1,
            Avro::String(r#"{"predictions": [1]}"#.into())
        );
        assert_eq!(r[0].key, exchange().inference_id);
    }

    #[test]
    fn modes_choose_the_records() {
        let count = |mode| {
            records(
                &ctx(mode, LogSchema::Kserve, LogFormat::Avro),
                &exchange(),
                LogFormat::Avro,
            )
            .iter()
            .map(|e| match &decode(&KSERVE, &e.value)[6].1 {
                Avro::String(s) => s.clone(),
                _ => unreachable!(),
            })
            .collect::<Vec<_>>()
        };
        assert_eq!(count(LoggerMode::None), Vec::<String>::new());
        assert_eq!(count(LoggerMode::ModelInputs), ["request"]);
        assert_eq!(count(LoggerMode::Predictions), ["response"]);
    }

    #[test]
    fn docker_style_is_one_record_with_both_bodies() {
        let r = records(
            &ctx(LoggerMode::ModelInputs, LogSchema::Docker, LogFormat::Avro),
            &exchange(),
            LogFormat::Avro,
        );
        assert_eq!(r.len(), 1);
        let fields = decode(&DOCKER, &r[0].value);
        assert_eq!(fields[0], ("modelId".into(), Avro::Int(7)));
        assert_eq!(
            fields[5].1,
            Avro::String(r#"{"instances": [[1.0, 2.0]]}"#.into())
        );
        assert_eq!(fields[6].1, Avro::String(String::new()), "MODEL_INPUTS");
        assert_eq!(fields[7].1, Avro::String("PYTHON".into()));
    }

    #[test]
    fn json_format_has_the_same_fields() {
        let r = records(
            &ctx(LoggerMode::Predictions, LogSchema::Kserve, LogFormat::Json),
            &exchange(),
            LogFormat::Json,
        );
        let v: serde_json::Value = serde_json::from_slice(&r[0].value).unwrap();
        assert_eq!(v["messageType"], "response");
        assert_eq!(v["responseHttpCode"], 200);
        assert_eq!(v["payload"], r#"{"predictions": [1]}"#);
    }
}
