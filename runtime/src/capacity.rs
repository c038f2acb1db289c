//! What the node has (cores, memory) and what deployments reserved of it: each stage's
//! `resources.requests` times the instances it keeps warm (`min_instances`; a native graph
//! is always loaded, so once). A deployment whose reservation does not fit is refused with
//! what is missing, as a Kubernetes scheduler would leave a pod Pending. Instances started
//! above the minimum under load are bursts within `limits`, not reservations.

use crate::definition::{DeploymentConfig, Resources};
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// What the node offers deployments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeCapacity {
    pub cores: f64,
    pub memory_mb: u64,
}

impl NodeCapacity {
    /// The machine's cores and physical memory (`/proc/meminfo`; unknown memory counts as
    /// unbounded rather than refusing everything).
    pub fn detect() -> NodeCapacity {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let memory_mb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib / 1024)
            })
            .unwrap_or(u64::MAX);
        NodeCapacity { cores, memory_mb }
    }
}

/// Cores and megabytes one deployment holds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reservation {
    pub cores: f64,
    pub memory_mb: u64,
}

impl Reservation {
    /// A deployment's predictor and transformer requests, times their warm instances.
    pub fn of(config: &DeploymentConfig) -> Reservation {
        let warm = if config.model_file.is_some() {
            1
        } else {
            config.scaling_configuration.min_instances
        };
        let mut r = Reservation::stage(&config.resources, warm);
        if let Some(t) = &config.transformer {
            let t = Reservation::stage(&t.resources, t.scaling_configuration.min_instances);
            r.cores += t.cores;
            r.memory_mb = r.memory_mb.saturating_add(t.memory_mb);
        }
        r
    }

    /// Saturating: a validated definition stays far below `u64::MAX` megabytes, and one that
    /// reaches it is refused by [`Capacity::reserve`] as unrepresentable.
    fn stage(resources: &Resources, instances: u32) -> Reservation {
        Reservation {
            cores: resources.requests.cores * f64::from(instances),
            memory_mb: resources
                .requests
                .memory
                .saturating_mul(u64::from(instances)),
        }
    }

    /// Whether the numbers are exact (not saturated, not infinite or NaN).
    fn representable(&self) -> bool {
        self.cores.is_finite() && self.cores >= 0.0 && self.memory_mb < u64::MAX
    }
}

/// The request does not fit.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CapacityError(pub String);

/// The node's capacity and the reservations held against it, by deployment name.
pub struct Capacity {
    node: NodeCapacity,
    reserved: Mutex<BTreeMap<String, Reservation>>,
}

impl Capacity {
    pub fn new(node: NodeCapacity) -> Capacity {
        Capacity {
            node,
            reserved: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn node(&self) -> NodeCapacity {
        self.node
    }

    /// Reserves `wanted` for `name`, replacing what it held before, or says what is missing.
    pub fn reserve(&self, name: &str, wanted: Reservation) -> Result<(), CapacityError> {
        if !wanted.representable() {
            return Err(CapacityError(format!(
                "the deployment's reservation (resources.requests times min_instances) is too \
                 large to count: {} cores and {} MB",
                wanted.cores, wanted.memory_mb
            )));
        }
        let mut reserved = self.reserved.lock();
        let others: Vec<&Reservation> = reserved
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, r)| r)
            .collect();
        let cores: f64 = others.iter().map(|r| r.cores).sum();
        let memory = others
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.memory_mb));
        let free_cores = (self.node.cores - cores).max(0.0);
        let free_memory = self.node.memory_mb.saturating_sub(memory);
        let mut missing = Vec::new();
        // A small tolerance: 10 × 0.2 cores must fit in 2 cores.
        if wanted.cores > free_cores + 1e-9 {
            missing.push(format!("{:.2} cores", wanted.cores - free_cores));
        }
        if wanted.memory_mb > free_memory {
            missing.push(format!("{} MB of memory", wanted.memory_mb - free_memory));
        }
        if !missing.is_empty() {
            return Err(CapacityError(format!(
                "not enough capacity on this node: the deployment requests {} cores and {} MB \
                 (resources.requests times min_instances, predictor and transformer); the node \
                 has {} cores and {} MB, of which {cores:.2} cores and {memory} MB are reserved \
                 by {} other deployment(s): {} missing",
                round(wanted.cores),
                wanted.memory_mb,
                round(self.node.cores),
                self.node.memory_mb,
                others.len(),
                missing.join(" and ")
            )));
        }
        reserved.insert(name.to_string(), wanted);
        Ok(())
    }

    /// Gives back what `name` held.
    pub fn release(&self, name: &str) {
        self.reserved.lock().remove(name);
    }

    /// The sum of every reservation.
    pub fn reserved(&self) -> Reservation {
        let reserved = self.reserved.lock();
        Reservation {
            cores: reserved.values().map(|r| r.cores).sum(),
            memory_mb: reserved
                .values()
                .fold(0u64, |sum, r| sum.saturating_add(r.memory_mb)),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cores: f64, memory_mb: u64) -> Reservation {
        Reservation { cores, memory_mb }
    }

    #[test]
    fn fills_up_then_says_what_is_missing() {
        let c = Capacity::new(NodeCapacity {
            cores: 2.0,
            memory_mb: 1000,
        });
        for i in 0..10 {
            c.reserve(&format!("d{i}"), r(0.2, 50)).unwrap();
        }
        let e = c.reserve("big", r(0.5, 600)).unwrap_err();
        assert!(
            e.0.contains("0.50 cores and 100 MB of memory missing"),
            "{e}"
        );
        assert!(e.0.contains("10 other deployment(s)"), "{e}");
        // Replacing a reservation counts only the new one.
        c.reserve("d0", r(0.2, 100)).unwrap();
        c.release("d1");
        c.reserve("small", r(0.2, 50)).unwrap();
        assert_eq!(c.reserved().memory_mb, 550);
    }

    #[test]
    fn reservations_that_cannot_be_counted_are_refused() {
        // An unvalidated definition (validation bounds memory and instances): the product
        // would wrap to a small number in release builds; it saturates and is refused.
        let mut config = DeploymentConfig::parse(
            r#"{"name": "a", "component_file": "p.wasm",
                "scaling_configuration": {"min_instances": 4294967295}}"#,
        )
        .unwrap();
        config.resources.requests.memory = u64::MAX / 2;
        let wanted = Reservation::of(&config);
        assert_eq!(wanted.memory_mb, u64::MAX);
        let c = Capacity::new(NodeCapacity {
            cores: f64::MAX,
            memory_mb: u64::MAX,
        });
        let e = c.reserve("a", wanted).unwrap_err();
        assert!(e.0.contains("too large to count"), "{e}");
        // The largest valid definition counts exactly.
        let config = DeploymentConfig::parse(
            r#"{"name": "a", "component_file": "p.wasm",
                "resources": {"requests": {"cores": 1024, "memory": 1048576},
                              "limits": {"cores": 1024, "memory": 1048576}},
                "scaling_configuration": {"min_instances": 1024},
                "transformer": {"script_file": "t.py",
                    "resources": {"requests": {"cores": 1024, "memory": 1048576},
                                  "limits": {"cores": 1024, "memory": 1048576}},
                    "scaling_configuration": {"min_instances": 1024}}}"#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(Reservation::of(&config), r(2.0 * 1024.0 * 1024.0, 2 << 30));
        c.reserve("b", Reservation::of(&config)).unwrap();
        c.reserve("c", r(0.0, u64::MAX - 1)).unwrap_err();
    }

    #[test]
    fn scale_to_zero_reserves_nothing() {
        let config = DeploymentConfig::parse(
            r#"{"name": "a", "component_file": "p.wasm",
                "scaling_configuration": {"min_instances": 0}}"#,
        )
        .unwrap();
        assert_eq!(Reservation::of(&config), r(0.0, 0));
        let config = DeploymentConfig::parse(
            r#"{"name": "a", "component_file": "p.wasm",
                "resources": {"requests": {"cores": 0.5, "memory": 100}},
                "scaling_configuration": {"min_instances": 2},
                "transformer": {"script_file": "t.py"}}"#,
        )
        .unwrap();
        assert_eq!(Reservation::of(&config), r(1.2, 232));
    }
}
