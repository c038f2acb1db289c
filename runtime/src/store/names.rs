//! The names the store files things under, each parsed once where it enters (a path
//! parameter, an upload, a record read from disk) so nothing unchecked reaches a file
//! operation: [`DeploymentName`] (the deployment-name rule) and [`Digest`] (a blob's sha256).
//! File paths inside a deployment are [`super::files::FilePath`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// The deployment-name rule, as clients read it in errors.
pub const NAME_RULE: &str =
    "1-63 letters (a-z, A-Z), digits or '-', starting with a letter and not ending with '-'";

/// How much of a refused value an error message repeats (a 300-character name is cut).
const ECHO_CHARS: usize = 64;

/// A deployment's name, by the rule of `deployment.json`'s `name`: also a file name in the
/// store (`deployments/<name>.json`, `live/<name>/`), so it has no `/`, `.` or control
/// character and cannot be empty or long.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeploymentName(String);

impl DeploymentName {
    /// The name if it follows the rule; else a message saying the rule (for a 400).
    pub fn parse(name: &str) -> Result<DeploymentName, String> {
        if crate::definition::valid_name(name) {
            Ok(DeploymentName(name.to_string()))
        } else {
            Err(format!(
                "{} is not a deployment name: names are {NAME_RULE}",
                echo(name)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeploymentName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DeploymentName::parse(&s)
    }
}

impl From<DeploymentName> for String {
    fn from(n: DeploymentName) -> String {
        n.0
    }
}

impl fmt::Display for DeploymentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for DeploymentName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A blob's digest: sha256 as 64 lowercase hex digits, also its file name under `blobs/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

/// Hex digits in a sha256 digest.
const DIGEST_HEX_CHARS: usize = 64;

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        Digest(hex::encode(sha2::Sha256::digest(bytes)))
    }

    pub fn parse(s: &str) -> Result<Digest, String> {
        if s.len() == DIGEST_HEX_CHARS && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            Ok(Digest(s.to_string()))
        } else {
            Err(format!(
                "{} is not a blob digest ({DIGEST_HEX_CHARS} lowercase hex digits)",
                echo(s)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `value` quoted for an error message, cut to [`ECHO_CHARS`] characters.
pub(crate) fn echo(value: &str) -> String {
    match value.char_indices().nth(ECHO_CHARS) {
        Some((cut, _)) => format!("{:?}... ({} bytes)", &value[..cut], value.len()),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_follow_the_deployment_name_rule() {
        for ok in ["a", "iris", "iris-bayes-2", &"a".repeat(63)] {
            DeploymentName::parse(ok).unwrap();
        }
        for bad in [
            "",
            "..",
            ".",
            "../../x",
            "a/b",
            "a\\b",
            "a\0",
            "-a",
            "a-",
            "1a",
            "a.json",
            &"a".repeat(64),
            &"a".repeat(300),
        ] {
            let e = DeploymentName::parse(bad).unwrap_err();
            assert!(e.contains("starting with a letter"), "{e}");
            assert!(e.len() < 300, "the message cuts a long name: {e}");
        }
    }

    #[test]
    fn digests_are_sha256_hex() {
        let d = Digest::of(b"x");
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        for bad in ["", "../../../etc/passwd", &"A".repeat(64), &"a".repeat(63)] {
            assert!(Digest::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Whatever a client sends, an accepted name is one plain file name.
        #[test]
        fn an_accepted_name_is_one_plain_component(s in "\\PC{0,80}|[a-zA-Z0-9./\\\\-]{0,70}") {
            if let Ok(n) = DeploymentName::parse(&s) {
                let mut parts = std::path::Path::new(n.as_str()).components();
                prop_assert!(matches!(parts.next(), Some(std::path::Component::Normal(_))));
                prop_assert!(parts.next().is_none());
                prop_assert!(!n.contains(['.', '/', '\\', '\0']));
            }
        }

        #[test]
        fn an_accepted_digest_is_one_plain_component(s in "\\PC{0,70}|[0-9a-f./]{60,70}") {
            if let Ok(d) = Digest::parse(&s) {
                prop_assert_eq!(d.as_str().len(), 64);
                prop_assert!(d.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
    }
}
