//! Acceptance 1: generated history matches the real data set's measured
//! profile (tests/fixtures/smoke_profile.yaml) per class and channel.
//!
//! Quantiles are compared in *probability* space: for a profile percentile
//! `p` with value `q`, the share of generated readings below `q` must be
//! within `PROBABILITY_TOLERANCE` of `p`. One tolerance then means the same
//! for every channel — pressure (a 9 hPa range) and TVOC (0 to 60,000 ppb)
//! alike — and handles the data's point masses (eCO2 = 400 for a quarter
//! of fire rows, TVOC = 0 for 11 % of no-fire rows): a `q` that sits on a
//! point mass matches any `p` within the mass.

use smokewatch::schema::{CHANNEL_COUNT, Channel, SmokeReading};
use smokewatch::simulate::profile::{FireClass, SmokeProfile};
use smokewatch::simulate::{HistoryGenerator, HistoryOptions, SimulatorConfig};
use std::path::Path;

const READINGS: u64 = 200_000;

/// The generator reproduces each class's quantiles exactly in expectation
/// (the copula maps a uniform latent through the measured quantile
/// function); what remains is sampling error, and readings are far from
/// independent. A device starts each recording session from a new latent
/// state and the slowest channels move little within one (temperature:
/// lag-1 autocorrelation 0.9999, a correlation time of ~10^4 s; pressure
/// 0.9995), so 200k readings hold only ~100 fire and ~30 no-fire sessions'
/// worth of independent temperatures and pressures. Session starts are
/// spread evenly (quasi-Monte Carlo), but within-session drift is random:
/// the standard error of a no-fire CDF value at the median is still about
/// √(0.25/30) ≈ 0.09 for those channels (fast channels land far closer).
/// Over seeds 1-8 the largest single error was 0.155 (no-fire pressure at
/// its median, where the real distribution is densest) and the others
/// stayed below 0.093; 0.2 is a bit over two standard errors of the slowest
/// channel. A per-quantile bound that loose cannot catch a subtle bias, so:
const PROBABILITY_TOLERANCE: f64 = 0.2;
/// Mean of the 72 probability errors (12 channels × p10/p50/p90 × 2
/// classes): the typical error, which sampling noise averages down. Over
/// seeds 1-8 it was 0.013-0.022; a generator with a systematic bias in any
/// channel group would exceed it.
const MEAN_PROBABILITY_TOLERANCE: f64 = 0.04;
/// Class balance: ±3 percentage points of the configured share.
const SHARE_TOLERANCE: f64 = 0.03;

fn fixture() -> SmokeProfile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smoke_profile.yaml");
    SmokeProfile::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn generate(seed: u64) -> Vec<SmokeReading> {
    let options = HistoryOptions {
        rows: Some(READINGS),
        days: None,
        devices: 8,
        seed,
        fire_share: None,
    };
    HistoryGenerator::new(&SimulatorConfig::default(), options)
        .unwrap()
        .collect()
}

/// Values of every channel, split by class.
fn columns(readings: &[SmokeReading], class: FireClass) -> Vec<Vec<f64>> {
    let mut cols = vec![Vec::new(); CHANNEL_COUNT];
    for r in readings
        .iter()
        .filter(|r| r.fire_alarm == Some(class == FireClass::Fire))
    {
        for (i, col) in cols.iter_mut().enumerate() {
            col.push(r.values.0[i].unwrap());
        }
    }
    for col in &mut cols {
        col.sort_by(f64::total_cmp);
    }
    cols
}

/// How far, in probability, `value` is from being the `p`-quantile of the
/// sorted sample (0 when it is one).
fn probability_error(sorted: &[f64], value: f64, p: f64) -> f64 {
    let n = sorted.len() as f64;
    let below = sorted.partition_point(|v| *v < value) as f64 / n;
    let at_or_below = sorted.partition_point(|v| *v <= value) as f64 / n;
    if below <= p && p <= at_or_below {
        0.0
    } else {
        (below - p).abs().min((at_or_below - p).abs())
    }
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0;
        for k in i..=j {
            ranks[order[k]] = average;
        }
        i = j + 1;
    }
    ranks
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    cov / (va * vb).sqrt()
}

#[test]
fn generated_history_matches_the_measured_profile() {
    let profile = fixture();
    let readings = generate(20_240_608);
    assert_eq!(readings.len() as u64, READINGS);

    let fire = readings
        .iter()
        .filter(|r| r.fire_alarm == Some(true))
        .count() as f64;
    let share = fire / readings.len() as f64;
    println!(
        "fire share: generated {share:.4}, profile {:.4}",
        profile.fire_share
    );
    assert!(
        (share - profile.fire_share).abs() <= SHARE_TOLERANCE,
        "fire share {share:.4} is not within ±{SHARE_TOLERANCE} of {}",
        profile.fire_share
    );

    let mut failures = Vec::new();
    let mut errors = Vec::new();
    println!(
        "{:<15} {:<7} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6}",
        "channel",
        "class",
        "p10 real",
        "p10 gen",
        "Δp",
        "p50 real",
        "p50 gen",
        "Δp",
        "p90 real",
        "p90 gen",
        "Δp"
    );
    for class in FireClass::ALL {
        let cols = columns(&readings, class);
        for channel in Channel::ALL {
            let sorted = &cols[channel.index()];
            let q = profile.quantiles(class, channel);
            let mut line = format!("{:<15} {:<7} |", channel.csv_name(), class.as_str());
            for (p, real) in [(0.10, q.p10), (0.50, q.p50), (0.90, q.p90)] {
                let error = probability_error(sorted, real, p);
                errors.push(error);
                line.push_str(&format!(
                    " {real:>9.4} {:>9.4} {error:>6.3} |",
                    quantile(sorted, p)
                ));
                if error > PROBABILITY_TOLERANCE {
                    failures.push(format!(
                        "{} {} p{:.0}: off by {error:.3} in probability",
                        channel.csv_name(),
                        class.as_str(),
                        p * 100.0
                    ));
                }
            }
            println!("{line}");
        }
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let max = errors.iter().copied().fold(0.0, f64::max);
    println!("probability error: mean {mean:.4}, max {max:.4}");
    assert!(
        failures.is_empty(),
        "quantiles out of tolerance:\n{}",
        failures.join("\n")
    );
    assert!(
        mean <= MEAN_PROBABILITY_TOLERANCE,
        "mean probability error {mean:.4} exceeds {MEAN_PROBABILITY_TOLERANCE}"
    );
}

#[test]
fn particle_channels_move_together_as_in_the_profile() {
    let profile = fixture();
    let readings = generate(7);
    let particles = [
        Channel::Pm1_0,
        Channel::Pm2_5,
        Channel::Nc0_5,
        Channel::Nc1_0,
        Channel::Nc2_5,
    ];
    let column =
        |c: Channel| -> Vec<f64> { readings.iter().map(|r| r.values.get(c).unwrap()).collect() };
    for (i, a) in particles.iter().enumerate() {
        for b in &particles[i + 1..] {
            let rho = spearman(&column(*a), &column(*b));
            let real = profile.spearman_all()[a.index()][b.index()];
            println!("spearman {a} ~ {b}: generated {rho:.3}, profile {real:.2}");
            // The profile's particle block is 0.96-1.00; "strongly positive"
            // here means at least 0.9.
            assert!(rho >= 0.9, "{a} ~ {b}: {rho:.3}");
        }
    }
    let tvoc_ethanol = spearman(&column(Channel::Tvoc), &column(Channel::RawEthanol));
    println!("spearman tvoc ~ raw_ethanol: generated {tvoc_ethanol:.3}, profile -0.88");
    assert!(
        tvoc_ethanol < -0.5,
        "TVOC and Raw Ethanol must move against each other: {tvoc_ethanol}"
    );
}

#[test]
fn readings_move_step_by_step_like_the_real_sensors() {
    let profile = fixture();
    let readings = generate(11);
    // Consecutive readings of one device (gap ≤ 2 s), as the profile measured.
    let mut last: std::collections::HashMap<_, &SmokeReading> = std::collections::HashMap::new();
    let mut steps = vec![Vec::new(); CHANNEL_COUNT];
    for r in &readings {
        if let Some(prev) = last.insert(r.device_id.clone(), r)
            && r.event_time.millis() - prev.event_time.millis() <= 2000
        {
            for (i, col) in steps.iter_mut().enumerate() {
                col.push((r.values.0[i].unwrap() - prev.values.0[i].unwrap()).abs());
            }
        }
    }
    println!(
        "{:<15} | {:>8} {:>8} | {:>8} {:>8}",
        "channel", "med real", "med gen", "p90 real", "p90 gen"
    );
    for channel in Channel::ALL {
        let col = &mut steps[channel.index()];
        col.sort_by(f64::total_cmp);
        let (median, p90) = (quantile(col, 0.5), quantile(col, 0.9));
        let real = profile.step(channel);
        println!(
            "{:<15} | {:>8.4} {median:>8.4} | {:>8.4} {p90:>8.4}",
            channel.csv_name(),
            real.median_abs_step,
            real.p90_abs_step
        );
        // Steps are fitted by Monte Carlo to the rounded values; scenario
        // ramps add movement the fit does not see. Within a factor of 3
        // (plus one unit of the printed resolution, for steps of 0) means
        // the series moves like a sensor, not like independent draws,
        // whose steps would be as large as the channel's whole spread.
        let resolution = 10f64.powi(-smokewatch::simulate::dynamics::decimals(channel));
        for (generated, measured) in [(median, real.median_abs_step), (p90, real.p90_abs_step)] {
            assert!(
                generated <= 3.0 * measured + resolution
                    && generated >= measured / 3.0 - resolution,
                "{channel}: step {generated} vs measured {measured}"
            );
        }
    }
}
