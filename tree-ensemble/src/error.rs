//! Errors for loading and evaluating tree ensembles: every malformed attribute or model file
//! maps to a message that names the offending field, tree or node.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum TreeError {
    #[error("attribute `{name}` has {got} entries but `{reference}` has {expected}")]
    LengthMismatch {
        name: String,
        got: usize,
        reference: String,
        expected: usize,
    },
    #[error("attribute `{name}` is missing or empty")]
    Missing { name: String },
    #[error("attribute `{name}`: {reason}")]
    BadAttribute { name: String, reason: String },
    #[error("tree {tree}: {reason}")]
    BadTree { tree: i64, reason: String },
    #[error("unsupported model feature: {0}")]
    Unsupported(String),
    #[error("model file is malformed: {0}")]
    Format(String),
    #[error("model is too large: {0}")]
    TooLarge(String),
    #[error("input has {got} values but {rows} rows of {cols} columns need {need}")]
    InputShape {
        got: usize,
        rows: usize,
        cols: usize,
        need: usize,
    },
    #[error("the model reads feature {max_feature} but the input has only {cols} columns")]
    TooFewColumns { max_feature: usize, cols: usize },
    #[error("output buffer `{name}` has {got} entries, {need} needed")]
    OutputShape {
        name: &'static str,
        got: usize,
        need: usize,
    },
}

pub(crate) fn bad_attr(name: &str, reason: impl Into<String>) -> TreeError {
    TreeError::BadAttribute {
        name: name.to_string(),
        reason: reason.into(),
    }
}

pub(crate) fn bad_tree(tree: i64, reason: impl Into<String>) -> TreeError {
    TreeError::BadTree {
        tree,
        reason: reason.into(),
    }
}
