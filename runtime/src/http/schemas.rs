//! The OpenAPI pieces the management handlers and the document share, with no type of their
//! own in the crate: the error answers every operation can give, the upload form,
//! `deployment.json` and the document itself. A sibling of both [`super::manage`] and
//! [`super::openapi`], so neither imports the other back.

use crate::views;
use std::borrow::Cow;
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{
    Content, Header, KnownFormat, Ref, RefOr, Response, ResponseBuilder, Schema,
};
use utoipa::{PartialSchema, ToResponse, ToSchema};

/// The security scheme every operation needs.
pub const SECURITY_SCHEME: &str = "ApiKey";

/// An error answer: its description, the [`views::ErrorBody`] schema.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name(views::ErrorBody::name()))),
    )
}

/// Error answers shared by operations, as `#/components/responses/<name>`.
macro_rules! error_responses {
    ($($name:ident: $description:literal,)*) => {$(
        #[doc = $description]
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($description).build().into())
            }
        }
    )*};
}

error_responses! {
    BadRequest: "the request is malformed: a bad name, query, upload or definition (the message names what)",
    Forbidden: "the key has the predict scope; the management API needs a manage key",
    NotFound: "no such deployment (or version, or action)",
    RequestTimeout: "the body did not arrive whole in time (--body-read-timeout-ms)",
    PayloadTooLarge: "the body is larger than the server's limit (--max-body-bytes)",
    UnsupportedMediaType: "the body is not multipart/form-data",
    CannotStart: "the version is well-formed but cannot start (nothing was recorded; the serving version stays)",
    InternalError: "a fault of the server (the message holds no internals; the logs do, under the request id)",
}

/// No API key, or not a valid one; the answer names the scheme to use.
pub struct Unauthorized;

impl<'r> ToResponse<'r> for Unauthorized {
    fn response() -> (&'r str, RefOr<Response>) {
        let scheme = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([SECURITY_SCHEME]));
        let response = error_response("no API key, or not a valid one")
            .header("WWW-Authenticate", Header::new(scheme))
            .build();
        ("Unauthorized", response.into())
    }
}

/// The body of `GET /api/openapi.json`: an OpenAPI document.
pub struct OpenApiDocument;

impl PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .required("openapi")
            .required("paths")
            .into()
    }
}

impl ToSchema for OpenApiDocument {}

/// The upload (`multipart/form-data`): `deployment.json` and the deployment's files, each
/// part's file name its path in the deployment folder.
pub struct UploadForm;

impl PartialSchema for UploadForm {
    fn schema() -> RefOr<Schema> {
        let file = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some(
                "a file of the deployment: the part's file name is its relative path (no `..`, \
                 no leading `/`)",
            ));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("deployment.json", Ref::from_schema_name(Definition::name()))
            .required("deployment.json")
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
                file.build(),
            )))))
            .into()
    }
}

impl ToSchema for UploadForm {}

/// `deployment.json`, with the Hopsworks predictor field names. Its type,
/// [`crate::definition::DeploymentConfig`], is described here rather than derived (its
/// sections are many small types the document does not need); the tests hold the two to
/// the same fields and names.
pub struct Definition;

impl Definition {
    /// `(field, schema)` of every field.
    fn fields() -> Vec<(&'static str, Object)> {
        let string = |description: Option<&str>| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(description)
                .build()
        };
        let number = |description: Option<&str>| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(u32::MAX))
                .description(description)
                .build()
        };
        let names = |values: &[&str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(values.to_vec()))
                .build()
        };
        let object = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(description))
                .build()
        };
        vec![
            (
                "name",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"))
                    .description(Some("the deployment's name: the {name} of every route"))
                    .build(),
            ),
            ("id", number(None)),
            ("description", string(None)),
            ("model_name", string(None)),
            ("model_version", number(None)),
            (
                "artifact_version",
                number(Some("set by the server: uploads are numbered")),
            ),
            ("model_path", string(None)),
            (
                "model_framework",
                names(&[
                    "TENSORFLOW",
                    "TORCH",
                    "PYTHON",
                    "SKLEARN",
                    "ONNX",
                    "XGBOOST",
                    "LIGHTGBM",
                ]),
            ),
            ("model_server", names(&["PYTHON", "TENSORFLOW_SERVING"])),
            ("serving_tool", names(&["DEFAULT", "KSERVE"])),
            ("api_protocol", names(&["REST", "GRPC"])),
            (
                "component_file",
                string(Some("a predictor component (.wasm) of the upload")),
            ),
            (
                "script_file",
                string(Some("a Python predictor script of the upload")),
            ),
            (
                "model_file",
                string(Some(
                    "a model of the upload served natively: an ONNX graph (.onnx), an XGBoost model (.json, .ubj) or a LightGBM text model",
                )),
            ),
            (
                "config_file",
                string(Some("a file of the upload handed to the predictor")),
            ),
            (
                "resources",
                object("requests and limits (cores, memory in MB)"),
            ),
            (
                "inference_batcher",
                object("batching: enabled, max_batch_size, max_latency, timeout"),
            ),
            (
                "inference_logger",
                object("the inference log: mode, kafka_topic"),
            ),
            (
                "scaling_configuration",
                object("min_instances, max_instances, scale_to_zero_after_secs"),
            ),
            (
                "transformer",
                object("a transformer stage before the predictor"),
            ),
            (
                "env_vars",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ),
        ]
    }
}

impl PartialSchema for Definition {
    fn schema() -> RefOr<Schema> {
        let mut schema = ObjectBuilder::new()
            .schema_type(Type::Object)
            .required("name")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .description(Some(
                "deployment.json, with the Hopsworks predictor field names; unknown fields are \
                 refused (400, naming the field). One of component_file, script_file or \
                 model_file names what serves it, a file of the upload.",
            ));
        for (field, property) in Definition::fields() {
            schema = schema.property(field, property);
        }
        schema.into()
    }
}

impl ToSchema for Definition {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Definition")
    }
}
