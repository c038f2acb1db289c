//! How many instances a stage keeps warm: Knative's autoscaling algorithm over the
//! Hopsworks scaling fields, as a pure function of what was observed (unit-tested here).
//!
//! Every tick the pool reports the metric it observed over the tick (average concurrency:
//! requests in flight or waiting; or requests per second). The autoscaler averages it over
//! the stable window and the (shorter) panic window and wants `ceil(average / target)`
//! instances. When the panic-window want reaches `panic_threshold` times the instances
//! live, it panics: it follows the panic window and never scales down until a whole stable
//! window passed without the threshold being crossed. The result is clamped to
//! `[min_instances, max_instances]`, and with `min_instances` 0 a stage with no request for
//! the retention period goes to zero.
//!
//! Where this departs from Knative, on purpose: an instance starts in milliseconds, so the
//! pool never makes a request wait for a decision. A request that finds every instance busy
//! starts one at once (up to `max_instances`); the autoscaler decides what stays warm and
//! pre-warms ahead of a rising load.

use crate::definition::{ScaleMetric, ScalingConfiguration};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often pools are scaled.
pub const TICK: Duration = Duration::from_secs(1);

/// Retention before scale-to-zero when the definition gives none (the seed's "after 30 s
/// of inactivity").
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30);

/// One stage's scaling fields, resolved.
#[derive(Clone, Debug)]
pub struct ScalingPolicy {
    pub min_instances: usize,
    pub max_instances: usize,
    pub metric: ScaleMetric,
    /// Per instance: concurrent requests, or requests per second.
    pub target: f64,
    pub stable_window: Duration,
    pub panic_window: Duration,
    /// A ratio (2.0 for Knative's 200%).
    pub panic_threshold: f64,
    /// Idle time before a stage with `min_instances` 0 goes to zero.
    pub retention: Duration,
}

impl ScalingPolicy {
    pub fn new(config: &ScalingConfiguration, max_instances: u32) -> ScalingPolicy {
        let stable = Duration::from_secs(u64::from(config.stable_window_seconds));
        ScalingPolicy {
            min_instances: config.min_instances as usize,
            max_instances: max_instances.max(1) as usize,
            metric: config.scale_metric,
            target: f64::from(config.target.max(1)),
            stable_window: stable,
            panic_window: stable
                .mul_f64(config.panic_window_percentage / 100.0)
                .max(TICK),
            panic_threshold: config.panic_threshold_percentage / 100.0,
            retention: match config.scale_to_zero_retention_seconds {
                0 => DEFAULT_RETENTION,
                s => Duration::from_secs(u64::from(s)),
            },
        }
    }

    /// A fixed size: `n` instances, never scaled (tools and benchmarks).
    pub fn fixed(n: usize) -> ScalingPolicy {
        ScalingPolicy {
            min_instances: n,
            max_instances: n.max(1),
            metric: ScaleMetric::Concurrency,
            target: 1.0,
            stable_window: Duration::from_secs(60),
            panic_window: Duration::from_secs(6),
            panic_threshold: 2.0,
            retention: DEFAULT_RETENTION,
        }
    }
}

/// What a pool tells the autoscaler at a tick.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    /// The metric over the last tick (average concurrency, or requests per second).
    pub value: f64,
    /// Instances live now.
    pub live: usize,
    /// Time since the last request began (or ended).
    pub idle_for: Duration,
}

/// One stage's autoscaler state.
#[derive(Debug)]
pub struct Autoscaler {
    policy: ScalingPolicy,
    samples: VecDeque<(Instant, f64)>,
    panicking_since: Option<Instant>,
    last: usize,
}

impl Autoscaler {
    pub fn new(policy: ScalingPolicy) -> Autoscaler {
        let last = policy.min_instances;
        Autoscaler {
            policy,
            samples: VecDeque::new(),
            panicking_since: None,
            last,
        }
    }

    /// Records a tick's observation and returns how many instances to keep.
    pub fn decide(&mut self, now: Instant, seen: Observation) -> usize {
        let p = &self.policy;
        self.samples.push_back((now, seen.value));
        while let Some(&(at, _)) = self.samples.front() {
            if now.duration_since(at) >= p.stable_window {
                self.samples.pop_front();
            } else {
                break;
            }
        }
        let average = |window: Duration| {
            let recent: Vec<f64> = self
                .samples
                .iter()
                .filter(|(at, _)| now.duration_since(*at) < window)
                .map(|(_, v)| *v)
                .collect();
            recent.iter().sum::<f64>() / recent.len().max(1) as f64
        };
        let want = |observed: f64| (observed / p.target).ceil() as usize;
        let stable = want(average(p.stable_window));
        let panic = want(average(p.panic_window));

        if panic as f64 / seen.live.max(1) as f64 >= p.panic_threshold {
            self.panicking_since = Some(now);
        } else if self
            .panicking_since
            .is_some_and(|since| now.duration_since(since) >= p.stable_window)
        {
            self.panicking_since = None;
        }
        let mut desired = match self.panicking_since {
            // In a panic the stage follows the short window and never shrinks.
            Some(_) => panic.max(self.last),
            None => stable,
        };
        desired = desired.clamp(p.min_instances, p.max_instances);
        if p.min_instances == 0 {
            desired = if seen.idle_for >= p.retention {
                0
            } else {
                desired.max(1)
            };
        }
        self.last = desired;
        desired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(min: u32, max: u32, target: u32) -> ScalingPolicy {
        let config = ScalingConfiguration {
            min_instances: min,
            max_instances: Some(max),
            target,
            stable_window_seconds: 10,
            scale_to_zero_retention_seconds: 5,
            ..ScalingConfiguration::default()
        };
        ScalingPolicy::new(&config, max)
    }

    /// Feeds one observation per second; returns the decisions.
    fn run(scaler: &mut Autoscaler, values: &[f64], live: usize, idle_after: usize) -> Vec<usize> {
        let start = Instant::now();
        values
            .iter()
            .enumerate()
            .map(|(i, &value)| {
                let idle_for = Duration::from_secs(i.saturating_sub(idle_after) as u64);
                scaler.decide(
                    start + TICK * i as u32,
                    Observation {
                        value,
                        live,
                        idle_for,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn steady_load_wants_load_over_target_within_bounds() {
        let mut s = Autoscaler::new(policy(1, 8, 2));
        let d = run(&mut s, &[6.0; 20], 3, usize::MAX);
        assert_eq!(*d.last().unwrap(), 3);
        let mut s = Autoscaler::new(policy(1, 4, 1));
        assert_eq!(*run(&mut s, &[50.0; 20], 4, usize::MAX).last().unwrap(), 4);
        let mut s = Autoscaler::new(policy(2, 4, 10));
        assert_eq!(*run(&mut s, &[0.5; 20], 2, usize::MAX).last().unwrap(), 2);
    }

    #[test]
    fn a_burst_panics_up_at_once_and_holds_for_a_stable_window() {
        let mut s = Autoscaler::new(policy(1, 10, 1));
        // Quiet at 1 concurrent, then a burst of 8: the panic window (1 s here) sees it at
        // the first tick, the stable average would take the whole window.
        let mut values = vec![1.0; 10];
        values.extend([8.0; 2]);
        values.extend([0.0; 12]);
        let d = run(&mut s, &values, 1, usize::MAX);
        assert_eq!(d[9], 1);
        assert_eq!(d[10], 8, "{d:?}");
        // Still 8 after the burst, for a stable window, then down.
        assert_eq!(d[15], 8, "{d:?}");
        assert!(d[23] < 8, "{d:?}");
    }

    #[test]
    fn min_zero_goes_to_zero_only_after_the_retention() {
        let mut s = Autoscaler::new(policy(0, 4, 1));
        let mut values = vec![1.0; 3];
        values.extend([0.0; 10]);
        // The last request was at tick 2: idle_for counts from there.
        let d = run(&mut s, &values, 1, 2);
        assert_eq!(&d[..7], &[1, 1, 1, 1, 1, 1, 1], "{d:?}");
        assert_eq!(d[7], 0, "{d:?}");
        assert_eq!(d[12], 0);
    }
}
