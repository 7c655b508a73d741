//! Synthetic data sets with known truth (`hsmoe simulate`).
//!
//! Every design draws `x` and `y` from a seeded `XorShiftRng`, so a
//! `(design, n, seed)` triple always gives the same file. [`write`](fn@write) saves
//! the CSV (header `x1..xp,y`, no intercept column: `fit` adds it) and a
//! sidecar `NAME.truth.json` with the true parameters and allocations.

use crate::data::{Dataset, INTERCEPT_NAME};
use crate::family::Family;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xorshift::XorShiftRng;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A simulation design (`hsmoe simulate --design NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// The paper's reference example (paper Sec. 4.1): K = 10 experts of which
    /// 3 are active, x ~ N(0, I_5), softmax gate on x1, x2 with inactive bias
    /// −3 and temperature 0.7.
    Paper,
    /// Two experts; a logistic gate driven by x1 and x2 only among 8
    /// features (6 null gate features, for the horseshoe).
    SparseGate,
    /// One feature on [0, 10] in increasing order, three linear regimes
    /// with growing noise (mcycle-like).
    Piecewise,
    /// One expert (K = 1): y = 0.5 + x1 − 2 x2 + 0.5 x3 + 0.5 ε.
    Linear,
    /// The default firmware's sizes: K = 4 experts over 3 features (D = 4
    /// with the intercept), x ~ N(0, I_3), the model's stick-breaking gate
    /// on x1, then x2, then x3 (about 50 %, 25 %, 12.5 %, 12.5 % of rows).
    Device,
}

/// How the true gate assigns rows to experts. Externally tagged in JSON
/// (`{"softmax": {...}}`, `"none"`), which also parses with serde_json's
/// `arbitrary_precision` (enabled in this workspace by `defmt-decoder`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateTruth {
    /// `P(z = k | x) ∝ exp((bias_k + weights_kᵀx) / temperature)`
    /// (`weights_k` over the file's features, no intercept).
    Softmax {
        /// Per-expert bias.
        bias: Vec<f64>,
        /// Per-expert feature weights.
        weights: Vec<Vec<f64>>,
        /// Softmax temperature.
        temperature: f64,
    },
    /// The model's own logistic stick-breaking gate (docs/model.md §1) with
    /// `ψ_j = phi_jᵀ(1, x)` (intercept first).
    StickBreaking {
        /// Per-stick coefficients, intercept first.
        phi: Vec<Vec<f64>>,
    },
    /// Deterministic regimes: expert `k` owns `breaks[k−1] ≤ x1 < breaks[k]`.
    Threshold {
        /// Increasing regime boundaries on `x1`.
        breaks: Vec<f64>,
    },
    /// One expert, no gate.
    None,
}

/// One true expert: `y = intercept + coefᵀx + sigma·ε` with `ε` standard
/// normal (Gaussian) or Student-t₄ (Student), or `P(y = 1) =
/// σ(intercept + coefᵀx)` (Bernoulli).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpertTruth {
    /// Intercept.
    pub intercept: f64,
    /// Coefficients over the file's features (no intercept).
    pub coef: Vec<f64>,
    /// Noise standard deviation.
    pub sigma: f64,
}

/// The sidecar `*.truth.json`: everything that generated the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The design.
    pub design: Design,
    /// The experts' likelihood (the rows' `y`).
    #[serde(default)]
    pub family: Family,
    /// Number of rows.
    pub n: usize,
    /// The seed.
    pub seed: u64,
    /// Number of experts.
    pub k: usize,
    /// The file's feature names (no intercept).
    pub feature_names: Vec<String>,
    /// The gate.
    pub gate: GateTruth,
    /// The experts.
    pub experts: Vec<ExpertTruth>,
    /// The expert that generated each row (0-based).
    pub allocations: Vec<usize>,
    /// Fraction of rows per expert.
    pub allocation_freq: Vec<f64>,
    /// Per expert, the true gate probability averaged over rows.
    pub gate_mean: Vec<f64>,
}

/// A simulated data set: rows without intercept, and the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// Feature rows (no intercept column).
    pub x: Vec<Vec<f64>>,
    /// Responses.
    pub y: Vec<f64>,
    /// What generated them.
    pub truth: Truth,
}

impl Simulation {
    /// The rows as [`crate::fit`] sees them after loading the written CSV
    /// (an intercept column first if `intercept`).
    ///
    /// # Examples
    /// ```
    /// use hsmoe_host::simulate::{simulate, Design};
    /// let data = simulate(Design::Linear, 5, 1).dataset(true);
    /// assert_eq!(data.feature_names, ["intercept", "x1", "x2", "x3"]);
    /// assert_eq!(data.x[0][0], 1.0);
    /// ```
    pub fn dataset(&self, intercept: bool) -> Dataset {
        let ones = || intercept.then_some(1.0);
        let mut feature_names: Vec<String> = Vec::new();
        if intercept {
            feature_names.push(INTERCEPT_NAME.to_owned());
        }
        feature_names.extend(self.truth.feature_names.iter().cloned());
        Dataset {
            feature_names,
            x: self
                .x
                .iter()
                .map(|row| ones().into_iter().chain(row.iter().copied()).collect())
                .collect(),
            y: self.y.clone(),
        }
    }
}

fn normal(rng: &mut XorShiftRng) -> f64 {
    rng.sample(StandardNormal)
}

/// A Student-t draw with 4 degrees of freedom: `z/√(χ²₄/4)`, with
/// `χ²₄ = −2 ln(u₁u₂)` for uniform `u` in (0, 1].
fn student_t4(rng: &mut XorShiftRng) -> f64 {
    let z = normal(rng);
    let (u1, u2) = (1.0 - rng.random::<f64>(), 1.0 - rng.random::<f64>());
    z / (-0.5 * (u1 * u2).ln()).sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(u, v)| u * v).sum()
}

/// Gate probabilities `π_k(x)` of the true gate (`x` without intercept).
fn gate_probs(gate: &GateTruth, k: usize, x: &[f64]) -> Vec<f64> {
    match gate {
        GateTruth::Softmax {
            bias,
            weights,
            temperature,
        } => {
            let logits: Vec<f64> = bias
                .iter()
                .zip(weights)
                .map(|(b, w)| (b + dot(w, x)) / temperature)
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
            let total: f64 = e.iter().sum();
            e.iter().map(|v| v / total).collect()
        }
        GateTruth::StickBreaking { phi } => {
            // π_k = σ(ψ_k) Π_{j<k} (1 − σ(ψ_j)), the last expert takes the rest.
            let mut rest = 1.0;
            let mut probs = Vec::with_capacity(k);
            for stick in phi {
                let psi = stick[0] + dot(&stick[1..], x);
                let s = 1.0 / (1.0 + (-psi).exp());
                probs.push(rest * s);
                rest *= 1.0 - s;
            }
            probs.push(rest);
            probs
        }
        GateTruth::Threshold { breaks } => {
            let regime = breaks.iter().filter(|&&b| x[0] >= b).count();
            (0..k).map(|j| f64::from(u8::from(j == regime))).collect()
        }
        GateTruth::None => vec![1.0],
    }
}

/// Draws `n` rows of `design` from `XorShiftRng::seed_from_u64(seed)`.
///
/// Designs and their truth (see [`Design`]):
/// - `paper`: experts 0, 1, 2 active with gate weights of length 2 on
///   (x1, x2) pointing 120° apart, `(2, 0)`, `(−1, ±√3)`, bias 0; the 7
///   inactive experts have bias −3 and zero weights; temperature 0.7. Active
///   experts: intercepts 2, −2, 0 and a few unit-size slopes, σ = 0.3;
///   inactive experts' coefficients are N(0, 1) draws, σ = 0.3.
/// - `sparse-gate`: stick `ψ = 3 x1 − 3 x2` over 8 features; experts
///   `1.5 + x3` and `−1.5 − x3`, σ = 0.3.
/// - `piecewise`: x1 ~ U(0, 10) sorted; regimes `[0, 3.5)`: `y = 0`, σ = 0.1;
///   `[3.5, 6)`: `y = −1.2 (x − 3.5)`, σ = 0.3; `[6, 10]`: `y = −3 + (x − 6)`,
///   σ = 0.6 (written with intercepts in the truth file).
/// - `linear`: x ~ N(0, I_3), one expert.
///
/// # Examples
/// ```
/// use hsmoe_host::simulate::{simulate, Design};
/// let sim = simulate(Design::Paper, 200, 7);
/// assert_eq!((sim.x.len(), sim.x[0].len(), sim.truth.k), (200, 5, 10));
/// let active: f64 = sim.truth.allocation_freq[..3].iter().sum();
/// assert!(active > 0.9);
/// assert_eq!(sim, simulate(Design::Paper, 200, 7)); // reproducible
/// ```
pub fn simulate(design: Design, n: usize, seed: u64) -> Simulation {
    simulate_family(design, Family::Gaussian, n, seed)
}

/// [`simulate`] with experts of `family`: for [`Family::Bernoulli`], each
/// row's expert draws `y ~ Bernoulli(σ(intercept + coefᵀx))` instead of
/// adding Gaussian noise (its `sigma` is not used); for
/// [`Family::Student`], the noise is `sigma` times a Student-t with 4
/// degrees of freedom. The features, gate and allocations are those of
/// the Gaussian design.
///
/// # Examples
/// ```
/// use hsmoe_host::family::Family;
/// use hsmoe_host::simulate::{simulate_family, Design};
/// let sim = simulate_family(Design::SparseGate, Family::Bernoulli, 300, 2);
/// assert!(sim.y.iter().all(|&y| y == 0.0 || y == 1.0));
/// assert_eq!(sim.truth.family, Family::Bernoulli);
/// ```
pub fn simulate_family(design: Design, family: Family, n: usize, seed: u64) -> Simulation {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    let (p, gate, experts) = match design {
        Design::Paper => paper_truth(&mut rng),
        Design::SparseGate => {
            let mut phi = vec![0.0; 9];
            phi[1] = 3.0;
            phi[2] = -3.0;
            let slope = |s: f64| {
                let mut coef = vec![0.0; 8];
                coef[2] = s;
                coef
            };
            let experts = vec![
                ExpertTruth {
                    intercept: 1.5,
                    coef: slope(1.0),
                    sigma: 0.3,
                },
                ExpertTruth {
                    intercept: -1.5,
                    coef: slope(-1.0),
                    sigma: 0.3,
                },
            ];
            (8, GateTruth::StickBreaking { phi: vec![phi] }, experts)
        }
        Design::Piecewise => {
            let experts = vec![
                ExpertTruth {
                    intercept: 0.0,
                    coef: vec![0.0],
                    sigma: 0.1,
                },
                ExpertTruth {
                    intercept: 4.2,
                    coef: vec![-1.2],
                    sigma: 0.3,
                },
                ExpertTruth {
                    intercept: -9.0,
                    coef: vec![1.0],
                    sigma: 0.6,
                },
            ];
            (
                1,
                GateTruth::Threshold {
                    breaks: vec![3.5, 6.0],
                },
                experts,
            )
        }
        Design::Device => {
            let expert = |intercept: f64, coef: [f64; 3], sigma: f64| ExpertTruth {
                intercept,
                coef: coef.to_vec(),
                sigma,
            };
            let experts = vec![
                expert(1.0, [1.0, 0.0, -1.0], 0.3),
                expert(-1.0, [0.0, 1.5, 0.0], 0.3),
                expert(2.0, [-1.0, 0.0, 0.5], 0.5),
                expert(-2.0, [0.0, -1.0, 1.0], 0.4),
            ];
            let phi = vec![
                vec![0.0, 2.5, 0.0, 0.0],
                vec![0.0, 0.0, 2.5, 0.0],
                vec![0.0, 0.0, 0.0, 2.5],
            ];
            (3, GateTruth::StickBreaking { phi }, experts)
        }
        Design::Linear => {
            let expert = ExpertTruth {
                intercept: 0.5,
                coef: vec![1.0, -2.0, 0.5],
                sigma: 0.5,
            };
            (3, GateTruth::None, vec![expert])
        }
    };
    let k = experts.len();
    let mut x: Vec<Vec<f64>> = match design {
        Design::Piecewise => {
            let mut t: Vec<f64> = (0..n).map(|_| 10.0 * rng.random::<f64>()).collect();
            t.sort_by(f64::total_cmp);
            t.into_iter().map(|v| vec![v]).collect()
        }
        _ => (0..n)
            .map(|_| (0..p).map(|_| normal(&mut rng)).collect())
            .collect(),
    };
    let mut y = Vec::with_capacity(n);
    let mut allocations = Vec::with_capacity(n);
    let mut gate_mean = vec![0.0; k];
    for row in &mut x {
        let probs = gate_probs(&gate, k, row);
        // Inverse-CDF draw of z; rounding leftovers go to the last expert.
        let u: f64 = rng.random();
        let mut cumulative = 0.0;
        let z = probs
            .iter()
            .position(|p| {
                cumulative += p;
                u < cumulative
            })
            .unwrap_or(k - 1);
        let e = &experts[z];
        let mean = e.intercept + dot(&e.coef, row);
        y.push(match family {
            Family::Gaussian => mean + e.sigma * normal(&mut rng),
            Family::Bernoulli => {
                f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-mean).exp())))
            }
            Family::Student => mean + e.sigma * student_t4(&mut rng),
        });
        allocations.push(z);
        for (g, p) in gate_mean.iter_mut().zip(&probs) {
            *g += p / n as f64;
        }
    }
    let mut allocation_freq = vec![0.0; k];
    for &z in &allocations {
        allocation_freq[z] += 1.0 / n as f64;
    }
    Simulation {
        x,
        y,
        truth: Truth {
            design,
            family,
            n,
            seed,
            k,
            feature_names: (1..=p).map(|l| format!("x{l}")).collect(),
            gate,
            experts,
            allocations,
            allocation_freq,
            gate_mean,
        },
    }
}

/// The paper design's truth: 10 experts, 3 active (see [`simulate`]).
fn paper_truth(rng: &mut XorShiftRng) -> (usize, GateTruth, Vec<ExpertTruth>) {
    const K: usize = 10;
    const P: usize = 5;
    let root3 = 3f64.sqrt();
    let active_weights = [[2.0, 0.0], [-1.0, root3], [-1.0, -root3]];
    let active_experts = [
        (2.0, [1.0, 0.0, -0.5, 0.0, 0.0]),
        (-2.0, [0.0, -1.0, 0.0, 0.5, 0.0]),
        (0.0, [-1.0, 0.0, 0.0, 0.0, 1.0]),
    ];
    let mut bias = vec![-3.0; K];
    let mut weights = vec![vec![0.0; P]; K];
    let mut experts = Vec::with_capacity(K);
    for k in 0..K {
        match (active_weights.get(k), active_experts.get(k)) {
            (Some(w), Some((intercept, coef))) => {
                bias[k] = 0.0;
                weights[k][..2].copy_from_slice(w);
                experts.push(ExpertTruth {
                    intercept: *intercept,
                    coef: coef.to_vec(),
                    sigma: 0.3,
                });
            }
            _ => experts.push(ExpertTruth {
                intercept: normal(rng),
                coef: (0..P).map(|_| normal(rng)).collect(),
                sigma: 0.3,
            }),
        }
    }
    let gate = GateTruth::Softmax {
        bias,
        weights,
        temperature: 0.7,
    };
    (P, gate, experts)
}

/// The sidecar path for a CSV path: `data.csv` → `data.truth.json`.
///
/// # Examples
/// ```
/// use std::path::Path;
/// let p = hsmoe_host::simulate::truth_path(Path::new("out/data.csv"));
/// assert_eq!(p, Path::new("out/data.truth.json"));
/// ```
pub fn truth_path(csv: &Path) -> PathBuf {
    csv.with_extension("truth.json")
}

/// The CSV text of [`write()`].
///
/// # Errors
/// None in practice (formatting into a `String`).
pub fn csv(sim: &Simulation) -> Result<String, std::fmt::Error> {
    let mut text = sim.truth.feature_names.join(",");
    text.push_str(",y\n");
    for (row, y) in sim.x.iter().zip(&sim.y) {
        for v in row {
            write!(text, "{v},")?;
        }
        writeln!(text, "{y}")?;
    }
    Ok(text)
}

/// Writes the CSV (header `x1..xp,y`; numbers in shortest round-trip
/// form, so loading gives back the same f64) and the truth sidecar.
///
/// # Errors
/// Any I/O or serialization error, with the path in its message.
///
/// # Examples
/// ```
/// use hsmoe_host::simulate::{simulate, write, Design};
/// let path = std::env::temp_dir().join("hsmoe-doc-sim.csv");
/// let sim = simulate(Design::Piecewise, 20, 3);
/// write(&sim, &path).unwrap();
/// let opts = hsmoe_host::data::LoadOptions::default();
/// assert_eq!(hsmoe_host::data::load(&path, &opts).unwrap(), sim.dataset(true));
/// ```
pub fn write(sim: &Simulation, csv: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::write(csv, self::csv(sim)?)
        .with_context(|| format!("{}: cannot write", csv.display()))?;
    let sidecar = truth_path(csv);
    let json = crate::output::json(&sim.truth)?;
    std::fs::write(&sidecar, json + "\n")
        .with_context(|| format!("{}: cannot write", sidecar.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_design_puts_most_mass_on_three_experts() {
        let sim = simulate(Design::Paper, 4000, 11);
        // The true gate gives the 7 inactive experts a few percent in total.
        let inactive: f64 = sim.truth.gate_mean[3..].iter().sum();
        assert!(inactive > 0.005 && inactive < 0.06, "{inactive}");
        for f in &sim.truth.allocation_freq[..3] {
            assert!(*f > 0.2, "each active expert is used: {f}");
        }
    }

    #[test]
    fn piecewise_is_sorted_and_follows_its_regimes() {
        let sim = simulate(Design::Piecewise, 300, 2);
        assert!(sim.x.windows(2).all(|w| w[0][0] <= w[1][0]));
        for (row, z) in sim.x.iter().zip(&sim.truth.allocations) {
            let expected = usize::from(row[0] >= 3.5) + usize::from(row[0] >= 6.0);
            assert_eq!(*z, expected);
        }
    }

    #[test]
    fn sparse_gate_allocations_follow_the_gate() {
        let sim = simulate(Design::SparseGate, 2000, 5);
        // Expert 0 ⇔ 3 x1 − 3 x2 > 0 mostly (σ(ψ) is steep).
        let agree = sim
            .x
            .iter()
            .zip(&sim.truth.allocations)
            .filter(|(x, &z)| (x[0] > x[1]) == (z == 0))
            .count();
        assert!(agree as f64 > 0.85 * 2000.0, "{agree}");
    }

    /// The shares are 1/2, 1/4, 1/8, 1/8 by symmetry of x ~ N(0, I); with
    /// 4000 rows their sampling sd is at most 0.008, and 0.03 is over 3.5 sd.
    #[test]
    fn device_design_has_the_firmware_sizes_and_uses_every_expert() {
        let sim = simulate(Design::Device, 4000, 3);
        assert_eq!((sim.truth.k, sim.dataset(true).d()), (4, 4));
        for (f, want) in sim
            .truth
            .allocation_freq
            .iter()
            .zip([0.5, 0.25, 0.125, 0.125])
        {
            assert!((f - want).abs() < 0.03, "{f} vs {want}");
        }
    }

    #[test]
    fn truth_round_trips_through_json() {
        let sim = simulate(Design::SparseGate, 10, 1);
        let json = serde_json::to_string(&sim.truth).unwrap();
        assert_eq!(serde_json::from_str::<Truth>(&json).unwrap(), sim.truth);
        assert!(
            json.contains("\"gate\":{\"stick-breaking\":{\"phi\""),
            "{json}"
        );
    }
}
