//! The overload bench's client: `overload URL BODY RATE SECONDS` sends RATE requests per
//! second on a fixed schedule (an open loop) for SECONDS, and prints one JSON object:
//! answers per second by status, the share refused (503), and latency percentiles of the
//! refusals and of the answers apart, which wrk cannot separate. Run by `bench/run.py`
//! against the release server.

use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("URL");
    let body = args.next().expect("BODY");
    let rate: f64 = args.next().expect("RATE").parse()?;
    let seconds: f64 = args.next().expect("SECONDS").parse()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .build()?;
    // Open loop: requests leave on schedule whatever the answers take, as real clients'
    // requests arrive (a closed loop would slow down with the server and hide overload).
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = (rate * seconds) as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for _ in 0..total {
        ticks.tick().await;
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            // (status, milliseconds); status 0 is a transport error.
            let status = match client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    status
                }
                Err(_) => 0,
            };
            (status, t0.elapsed().as_secs_f64() * 1e3)
        }));
    }
    let mut all = Vec::with_capacity(total);
    for t in tasks {
        all.push(t.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let by = |status: u16| {
        let mut v: Vec<f64> = all
            .iter()
            .filter(|(s, _)| *s == status)
            .map(|(_, ms)| *ms)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (ok, refused) = (by(200), by(503));
    let other = all.len() - ok.len() - refused.len();
    println!(
        "{}",
        serde_json::json!({
            "rate": rate,
            "seconds": elapsed,
            "requests": all.len(),
            "ok_per_s": ok.len() as f64 / elapsed,
            "refused_per_s": refused.len() as f64 / elapsed,
            "refused_share": refused.len() as f64 / all.len().max(1) as f64,
            "other": other,
            "refused_p50_ms": percentile(&refused, 0.5),
            "refused_p99_ms": percentile(&refused, 0.99),
            "ok_p50_ms": percentile(&ok, 0.5),
            "ok_p99_ms": percentile(&ok, 0.99),
        })
    );
    Ok(())
}
