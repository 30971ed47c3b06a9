//! Processed-per-second history: a small ring of samples of the runtime's processed
//! counters (no database access), drawn as inline SVG.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Inner;
use super::html::Html;

/// The last samples, oldest first.
#[derive(Debug)]
pub(crate) struct Samples {
    kept: usize,
    ring: VecDeque<(Instant, BTreeMap<String, u64>)>,
}

impl Samples {
    pub(crate) fn new(kept: usize) -> Self {
        Samples { kept, ring: VecDeque::with_capacity(kept) }
    }

    pub(crate) fn push(&mut self, at: Instant, processed: BTreeMap<String, u64>) {
        if self.ring.len() == self.kept {
            self.ring.pop_front();
        }
        self.ring.push_back((at, processed));
    }

    /// Changes per second of `subscriber` between consecutive samples, oldest first.
    pub(crate) fn rates(&self, subscriber: &str) -> Vec<f64> {
        self.ring
            .iter()
            .zip(self.ring.iter().skip(1))
            .map(|((t0, a), (t1, b))| {
                let before = a.get(subscriber).copied().unwrap_or(0);
                let after = b.get(subscriber).copied().unwrap_or(before);
                let span = t1.duration_since(*t0).as_secs_f64().max(0.001);
                after.saturating_sub(before) as f64 / span
            })
            .collect()
    }
}

/// Samples now and then every `every` while the dashboard lives (needs a runtime handle
/// and a Tokio runtime; without either there is nothing to sample or nothing to run on).
pub(crate) fn start_sampling(inner: &Arc<Inner>, every: Duration) {
    if inner.figures.stats.is_none() {
        return;
    }
    sample(inner);
    let Ok(tokio) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // Weak: the task must not keep a dropped dashboard (and its pool) alive.
    let weak: Weak<Inner> = Arc::downgrade(inner);
    tokio.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            match weak.upgrade() {
                Some(inner) => sample(&inner),
                None => return,
            }
        }
    });
}

fn sample(inner: &Inner) {
    if let Some(stats) = &inner.figures.stats {
        let processed = stats.processed().into_iter().collect();
        inner.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(Instant::now(), processed);
    }
}

/// A small line chart of `rates` (nothing when there are fewer than two points).
pub(crate) fn svg(html: &mut Html, rates: &[f64]) {
    const WIDTH: f64 = 120.0;
    const HEIGHT: f64 = 24.0;
    if rates.len() < 2 {
        return;
    }
    let top = rates.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let step = WIDTH / (rates.len() - 1) as f64;
    let points: Vec<String> = rates
        .iter()
        .enumerate()
        .map(|(i, rate)| format!("{:.1},{:.1}", i as f64 * step, HEIGHT - 1.0 - rate / top * (HEIGHT - 2.0)))
        .collect();
    html.raw("<svg class=\"spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\" role=\"img\" aria-label=\"processed per second, peak ")
        .text(format!("{top:.1}"))
        .raw("\"><polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"")
        .text(points.join(" "))
        .raw("\"/></svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_consecutive_samples_and_the_ring_is_bounded() {
        let start = Instant::now();
        let mut samples = Samples::new(3);
        for (i, total) in [0u64, 10, 30, 60].into_iter().enumerate() {
            let at = start + Duration::from_secs(10 * i as u64);
            samples.push(at, BTreeMap::from([("s".to_owned(), total)]));
        }
        assert_eq!(samples.rates("s"), vec![2.0, 3.0]);
        assert_eq!(samples.rates("unknown"), vec![0.0, 0.0]);
        let mut html = Html::default();
        svg(&mut html, &samples.rates("s"));
        assert!(html.finish().contains("<polyline"));
    }
}
