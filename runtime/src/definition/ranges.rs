//! The numbers of a definition, each checked against its bounds: a value out of range is
//! refused naming the field and the range, before anything converts or multiplies it. The
//! bounds are what keeps the runtime's arithmetic on them exact: megabytes shifted into
//! bytes, `requests × min_instances` reservations, batch deadlines added to `Instant`s.

use super::{ConfigError, InferenceBatcher, InferenceLogger, Resources, ScalingConfiguration};
use std::fmt::Display;
use std::ops::RangeInclusive;

/// Cores a stage may request or be limited to.
pub const MAX_CORES: f64 = 1024.0;
/// Megabytes a stage may request or be limited to (1 TiB: in bytes, far from `u64::MAX`).
pub const MAX_MEMORY_MB: u64 = 1 << 20;
/// GPUs a stage may ask for (kept, not served).
pub const MAX_GPUS: u32 = 64;
/// `inference_batcher.max_batch_size`, in rows.
pub const MAX_BATCH_SIZE: u32 = 4096;
/// `inference_batcher.max_latency`: how long a batch may wait for members (one minute).
pub const MAX_BATCH_LATENCY_MS: u64 = 60_000;
/// `inference_batcher.timeout`: a request's whole wait (one hour).
pub const MAX_BATCH_TIMEOUT_MS: u64 = 3_600_000;
/// `scaling_configuration.min_instances` and `max_instances`.
pub const MAX_INSTANCES: u32 = 1024;
/// `scaling_configuration.target`: requests (or requests per second) per instance.
pub const MAX_SCALING_TARGET: u32 = 100_000;
/// `scaling_configuration.stable_window_seconds` (Knative's bounds).
pub const STABLE_WINDOW_SECS: RangeInclusive<u32> = 6..=3600;
/// `scaling_configuration.scale_to_zero_retention_seconds` (0: the default; at most a day).
pub const MAX_RETENTION_SECS: u32 = 86_400;
/// `inference_logger.kafka_topic.num_of_partitions`.
pub const MAX_KAFKA_PARTITIONS: u32 = 10_000;
/// `inference_logger.kafka_topic.num_of_replicas`.
pub const MAX_KAFKA_REPLICAS: u32 = 32;

/// Refuses `value` outside `range`, naming `field` and the bounds (`unit` after them).
pub(super) fn in_range<T: PartialOrd + Display>(
    field: &str,
    value: T,
    range: RangeInclusive<T>,
    unit: &str,
) -> Result<(), ConfigError> {
    if range.contains(&value) {
        return Ok(());
    }
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" ({unit})")
    };
    Err(ConfigError(format!(
        "{field}: {value} is out of range; must be within {}..={}{unit}",
        range.start(),
        range.end()
    )))
}

pub(super) fn check_resources(field: &str, r: &Resources) -> Result<(), ConfigError> {
    for (which, res) in [("requests", &r.requests), ("limits", &r.limits)] {
        // NaN and infinities fail the comparisons too.
        if !(res.cores > 0.0 && res.cores <= MAX_CORES) {
            return Err(ConfigError(format!(
                "{field}.{which}.cores: must be a positive number at most {MAX_CORES}, not {}",
                res.cores
            )));
        }
        in_range(
            &format!("{field}.{which}.memory"),
            res.memory,
            1..=MAX_MEMORY_MB,
            "MB",
        )?;
        in_range(&format!("{field}.{which}.gpus"), res.gpus, 0..=MAX_GPUS, "")?;
    }
    if r.requests.cores > r.limits.cores {
        return Err(ConfigError(format!(
            "{field}.requests.cores: {} exceeds limits.cores {}",
            r.requests.cores, r.limits.cores
        )));
    }
    if r.requests.memory > r.limits.memory {
        return Err(ConfigError(format!(
            "{field}.requests.memory: {} exceeds limits.memory {}",
            r.requests.memory, r.limits.memory
        )));
    }
    Ok(())
}

/// Zero latency or timeout is refused only when batching is on (a disabled batcher's
/// fields are kept, not used); the upper bounds hold either way.
pub(super) fn check_batcher(field: &str, b: &InferenceBatcher) -> Result<(), ConfigError> {
    if let Some(n) = b.max_batch_size {
        in_range(
            &format!("{field}.max_batch_size"),
            n,
            1..=MAX_BATCH_SIZE,
            "rows",
        )?;
    }
    let least = u64::from(b.enabled);
    if let Some(ms) = b.max_latency {
        in_range(
            &format!("{field}.max_latency"),
            ms,
            least..=MAX_BATCH_LATENCY_MS,
            "ms",
        )?;
    }
    if let Some(ms) = b.timeout {
        in_range(
            &format!("{field}.timeout"),
            ms,
            least..=MAX_BATCH_TIMEOUT_MS,
            "ms",
        )?;
    }
    Ok(())
}

/// `max`: the stage's `max_instances`, given or derived from its cores.
pub(super) fn check_scaling(
    field: &str,
    s: &ScalingConfiguration,
    max: u32,
) -> Result<(), ConfigError> {
    in_range(
        &format!("{field}.max_instances"),
        max,
        1..=MAX_INSTANCES,
        "",
    )?;
    if s.min_instances > max {
        return Err(ConfigError(format!(
            "{field}.min_instances: {} exceeds max_instances {max}",
            s.min_instances
        )));
    }
    in_range(
        &format!("{field}.target"),
        s.target,
        1..=MAX_SCALING_TARGET,
        "",
    )?;
    in_range(
        &format!("{field}.panic_window_percentage"),
        s.panic_window_percentage,
        1.0..=100.0,
        "%",
    )?;
    in_range(
        &format!("{field}.panic_threshold_percentage"),
        s.panic_threshold_percentage,
        110.0..=1000.0,
        "%",
    )?;
    in_range(
        &format!("{field}.stable_window_seconds"),
        s.stable_window_seconds,
        STABLE_WINDOW_SECS,
        "s",
    )?;
    in_range(
        &format!("{field}.scale_to_zero_retention_seconds"),
        s.scale_to_zero_retention_seconds,
        0..=MAX_RETENTION_SECS,
        "s",
    )
}

pub(super) fn check_logger_numbers(l: &InferenceLogger) -> Result<(), ConfigError> {
    // NaN fails both comparisons.
    if !(l.sampling_rate > 0.0 && l.sampling_rate <= 1.0) {
        return Err(ConfigError(format!(
            "inference_logger.sampling_rate: {} must be within (0, 1]",
            l.sampling_rate
        )));
    }
    if let Some(topic) = &l.kafka_topic {
        if let Some(n) = topic.num_of_partitions {
            in_range(
                "inference_logger.kafka_topic.num_of_partitions",
                n,
                1..=MAX_KAFKA_PARTITIONS,
                "",
            )?;
        }
        if let Some(n) = topic.num_of_replicas {
            in_range(
                "inference_logger.kafka_topic.num_of_replicas",
                n,
                1..=MAX_KAFKA_REPLICAS,
                "",
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::DeploymentConfig;
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// A definition with `value` at `pointer` (a JSON pointer), parsed and validated.
    fn with(pointer: &str, value: Value) -> Result<DeploymentConfig, ConfigError> {
        let mut doc = json!({"name": "a", "component_file": "p.wasm",
            "resources": {"requests": {"cores": 0.5, "memory": 32},
                          "limits": {"cores": 2, "memory": 1024}},
            "inference_batcher": {"enabled": true},
            "inference_logger": {"kafka_topic": {"name": "t"}},
            "scaling_configuration": {"min_instances": 1, "max_instances": 2}});
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        doc.pointer_mut(parent).expect("the parent exists")[key] = value;
        let config = DeploymentConfig::parse(&doc.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// The largest accepted value is accepted; one more, and `u64::MAX` (or what the field's
    /// type can hold), are refused with the field's name and its bounds.
    #[test]
    fn every_number_is_accepted_up_to_its_bound_and_refused_past_it() {
        let cases: &[(&str, &str, u64, &str)] = &[
            ("/id", "id", i32::MAX as u64, "0..=2147483647"),
            (
                "/resources/limits/memory",
                "resources.limits.memory",
                MAX_MEMORY_MB,
                "1..=1048576 (MB)",
            ),
            (
                "/resources/limits/gpus",
                "resources.limits.gpus",
                MAX_GPUS.into(),
                "0..=64",
            ),
            (
                "/inference_batcher/max_batch_size",
                "inference_batcher.max_batch_size",
                MAX_BATCH_SIZE.into(),
                "1..=4096 (rows)",
            ),
            (
                "/inference_batcher/max_latency",
                "inference_batcher.max_latency",
                MAX_BATCH_LATENCY_MS,
                "1..=60000 (ms)",
            ),
            (
                "/inference_batcher/timeout",
                "inference_batcher.timeout",
                MAX_BATCH_TIMEOUT_MS,
                "1..=3600000 (ms)",
            ),
            (
                "/scaling_configuration/max_instances",
                "scaling_configuration.max_instances",
                MAX_INSTANCES.into(),
                "1..=1024",
            ),
            (
                "/scaling_configuration/target",
                "scaling_configuration.target",
                MAX_SCALING_TARGET.into(),
                "1..=100000",
            ),
            (
                "/scaling_configuration/stable_window_seconds",
                "scaling_configuration.stable_window_seconds",
                3600,
                "6..=3600 (s)",
            ),
            (
                "/scaling_configuration/scale_to_zero_retention_seconds",
                "scaling_configuration.scale_to_zero_retention_seconds",
                MAX_RETENTION_SECS.into(),
                "0..=86400 (s)",
            ),
            (
                "/inference_logger/kafka_topic/num_of_partitions",
                "inference_logger.kafka_topic.num_of_partitions",
                MAX_KAFKA_PARTITIONS.into(),
                "1..=10000",
            ),
            (
                "/inference_logger/kafka_topic/num_of_replicas",
                "inference_logger.kafka_topic.num_of_replicas",
                MAX_KAFKA_REPLICAS.into(),
                "1..=32",
            ),
        ];
        for &(pointer, field, max, bounds) in cases {
            if let Err(e) = with(pointer, json!(max)) {
                panic!("{field} = {max} was refused: {e}");
            }
            let e = with(pointer, json!(max + 1)).expect_err(field);
            assert!(e.0.contains(field) && e.0.contains(bounds), "{field}: {e}");
            // u64::MAX: out of range, or too large for the field's type; named either way.
            let e = with(pointer, json!(u64::MAX)).expect_err(field);
            assert!(e.0.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn zero_is_refused_where_it_cannot_work() {
        for (pointer, field) in [
            ("/resources/requests/memory", "resources.requests.memory"),
            (
                "/inference_batcher/max_batch_size",
                "inference_batcher.max_batch_size",
            ),
            (
                "/inference_batcher/max_latency",
                "inference_batcher.max_latency",
            ),
            ("/inference_batcher/timeout", "inference_batcher.timeout"),
            (
                "/scaling_configuration/target",
                "scaling_configuration.target",
            ),
            (
                "/inference_logger/kafka_topic/num_of_partitions",
                "inference_logger.kafka_topic.num_of_partitions",
            ),
        ] {
            let e = with(pointer, json!(0)).expect_err(field);
            assert!(e.0.contains(field), "{field}: {e}");
        }
        // A disabled batcher keeps its fields unused: zero is fine there, huge is not.
        assert!(with("/inference_batcher/enabled", json!(false)).is_ok());
        let mut doc = json!({"name": "a", "component_file": "p.wasm",
            "inference_batcher": {"enabled": false, "max_latency": 0, "timeout": 0}});
        assert!(
            DeploymentConfig::parse(&doc.to_string())
                .unwrap()
                .validate()
                .is_ok()
        );
        doc["inference_batcher"]["timeout"] = json!(u64::MAX);
        let e = DeploymentConfig::parse(&doc.to_string())
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.0.contains("inference_batcher.timeout"), "{e}");
    }

    #[test]
    fn cores_are_finite_positive_and_bounded() {
        assert!(with("/resources/limits/cores", json!(MAX_CORES)).is_ok());
        for bad in [json!(MAX_CORES + 0.5), json!(0), json!(-1), json!(1e308)] {
            let e = with("/resources/limits/cores", bad.clone()).expect_err("cores");
            assert!(
                e.0.contains("resources.limits.cores: ")
                    && e.0.contains("must be a positive number at most 1024"),
                "{bad}: {e}"
            );
        }
        // Derived max_instances follows the cores, within its own bound.
        let config = DeploymentConfig::parse(
            r#"{"name": "a", "component_file": "p.wasm",
                "resources": {"limits": {"cores": 1024, "memory": 1024}}}"#,
        )
        .unwrap();
        assert_eq!(config.max_instances(), 1024);
        assert!(config.validate().is_ok());
    }

    /// Numeric fields of a definition, by JSON pointer.
    const NUMBERS: [&str; 17] = [
        "/id",
        "/model_version",
        "/resources/requests/cores",
        "/resources/requests/memory",
        "/resources/limits/cores",
        "/resources/limits/memory",
        "/resources/limits/gpus",
        "/inference_batcher/max_batch_size",
        "/inference_batcher/max_latency",
        "/inference_batcher/timeout",
        "/inference_logger/sampling_rate",
        "/inference_logger/kafka_topic/num_of_partitions",
        "/scaling_configuration/min_instances",
        "/scaling_configuration/max_instances",
        "/scaling_configuration/target",
        "/scaling_configuration/panic_window_percentage",
        "/scaling_configuration/scale_to_zero_retention_seconds",
    ];

    fn hostile_number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            (0u64..5000).prop_map(Value::from),
            prop::sample::select(vec![0u64, 1, 1 << 20, (1 << 20) + 1, 1 << 44, u64::MAX])
                .prop_map(Value::from),
            Just(json!("12")),
            Just(Value::Null),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any numbers anywhere: parse and validate never panic, and what they accept the
        /// runtime can compute with exactly (bytes of memory, reservations) and wait for.
        #[test]
        fn accepted_definitions_have_numbers_the_runtime_can_use(
            changes in prop::collection::vec(
                (prop::sample::select(NUMBERS.to_vec()), hostile_number()), 1..5),
        ) {
            let mut doc = json!({"name": "a", "component_file": "p.wasm",
                "resources": {"requests": {"cores": 0.5, "memory": 32},
                              "limits": {"cores": 2, "memory": 1024}},
                "inference_batcher": {"enabled": true},
                "inference_logger": {"kafka_topic": {"name": "t"}},
                "scaling_configuration": {"min_instances": 1},
                "transformer": {"script_file": "t.py"}});
            for (pointer, value) in changes {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                doc.pointer_mut(parent).unwrap()[key] = value;
            }
            let Ok(config) = DeploymentConfig::parse(&doc.to_string()) else {
                return Ok(());
            };
            if config.validate().is_err() {
                return Ok(());
            }
            let limits = &config.resources.limits;
            prop_assert_eq!(limits.memory_bytes() as u64, limits.memory << 20);
            let r = crate::capacity::Reservation::of(&config);
            prop_assert!(r.cores.is_finite() && r.memory_mb < u64::MAX);
            let b = config.inference_batcher.as_ref().unwrap();
            // A batch deadline a predict can live to see.
            prop_assert!(b.max_latency.unwrap_or(1) <= MAX_BATCH_LATENCY_MS);
            prop_assert!((1..=MAX_BATCH_TIMEOUT_MS).contains(&b.timeout.unwrap_or(1)));
            prop_assert!(config.max_instances() <= MAX_INSTANCES);
            prop_assert!(config.serving_id() >= 0);
        }
    }

    #[test]
    fn min_instances_is_bounded_by_max_instances() {
        let e = with("/scaling_configuration/min_instances", json!(3)).unwrap_err();
        assert!(
            e.0.contains("scaling_configuration.min_instances: 3 exceeds max_instances 2"),
            "{e}"
        );
        let e = with("/scaling_configuration/min_instances", json!(u64::MAX)).unwrap_err();
        assert!(e.0.contains("scaling_configuration.min_instances"), "{e}");
    }
}
