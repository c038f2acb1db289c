//! The files a Python script is componentized with, embedded in the binary so `predictor`
//! needs nothing but componentize-py: the WIT package and the Python guest SDK
//! (`guest-sdk/python`).

/// `(path, contents)` of the WIT package, written to `wit/` of a build.
pub const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("predict.wit", include_str!("../../../wit/predict.wit")),
    ("transform.wit", include_str!("../../../wit/transform.wit")),
    ("models.wit", include_str!("../../../wit/models.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

/// `(path, contents)` of the Python guest SDK, written to the build's Python path.
pub const PYTHON: &[(&str, &str)] = &[
    (
        "predictor_app.py",
        include_str!("../../../guest-sdk/python/predictor_app.py"),
    ),
    (
        "transformer_app.py",
        include_str!("../../../guest-sdk/python/transformer_app.py"),
    ),
    (
        "predictor_runtime/__init__.py",
        include_str!("../../../guest-sdk/python/predictor_runtime/__init__.py"),
    ),
    (
        "predictor_runtime/_adapter.py",
        include_str!("../../../guest-sdk/python/predictor_runtime/_adapter.py"),
    ),
    (
        "predictor_runtime/_errors.py",
        include_str!("../../../guest-sdk/python/predictor_runtime/_errors.py"),
    ),
    (
        "predictor_runtime/_model.py",
        include_str!("../../../guest-sdk/python/predictor_runtime/_model.py"),
    ),
    (
        "predictor_runtime/_script.py",
        include_str!("../../../guest-sdk/python/predictor_runtime/_script.py"),
    ),
    (
        "predictor_runtime/_tensors.py",
        include_str!("../../../guest-sdk/python/predictor_runtime/_tensors.py"),
    ),
    (
        "predictor_runtime/log.py",
        include_str!("../../../guest-sdk/python/predictor_runtime/log.py"),
    ),
];
