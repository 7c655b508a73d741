//! On-target self-test: the core's numerics and the link protocol on the
//! Cortex-M4F itself. `cargo test --release` in `firmware/` boots it in
//! QEMU; it logs each check over defmt and exits through semihosting with
//! 0 if every check passed, 1 otherwise, so QEMU's exit code is the
//! verdict. A panic or fault exits with 101 or 102.
//!
//! Statistical checks use fixed seeds; each tolerance is a multiple of the
//! Monte Carlo standard error, stated where it is used.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use hsmoe_core::dist::{gamma, normal, polya_gamma, student_t};
use hsmoe_core::frame::{self, MAX_FRAME};
use hsmoe_core::linalg::{self, Triangle};
use hsmoe_core::protocol::{
    ConfigMsg, FeatureVec, ObserveMsg, PredictMsg, PredictionMsg, RejectMsg, RejectReason, Request,
    Response, UpdateMsg, PROTOCOL_VERSION,
};
use hsmoe_core::{Config, Error, Filter};
use hsmoe_firmware::board::{Board, Selected};
use hsmoe_firmware::link::{AnswerCache, Link};
use hsmoe_firmware::{runtime, stack};
use rand_core::{RngCore, SeedableRng};
use rand_xorshift::XorShiftRng;
use static_cell::ConstStaticCell;

/// Sizes of the filters under test: small, so each check runs in well
/// under a second of emulated time.
const N: usize = 32;
const K: usize = 4;
const D: usize = 4;
type TestFilter = Filter<N, K, D>;

/// Two filters, for checks that compare a clean run with a disturbed one.
static FILTERS: ConstStaticCell<[TestFilter; 2]> =
    ConstStaticCell::new([TestFilter::new(), TestFilter::new()]);

/// What each check may use.
struct Ctx {
    a: &'static mut TestFilter,
    b: &'static mut TestFilter,
}

/// A check: `Err` names what failed.
type Check = Result<(), &'static str>;

/// Fails the check with `$what` unless `$cond` holds (a NaN comparison
/// does not hold).
macro_rules! ensure {
    ($cond:expr, $what:expr) => {
        let holds: bool = $cond;
        if !holds {
            return Err($what);
        }
    };
}

/// A named check.
type Named = (&'static str, fn(&mut Ctx) -> Check);

/// `(function, input bits, output bits)`.
type Golden<F, B> = (&'static str, fn(F) -> F, B, B);

const CHECKS: &[Named] = &[
    ("libm gives the host's bits", libm_gives_the_host_bits),
    ("VSQRT gives libm's bits", vsqrt_gives_libm_bits),
    (
        "cholesky, rank-1 update and solves",
        cholesky_rank1_and_solves,
    ),
    ("normal moments", normal_moments),
    ("gamma moments", gamma_moments),
    ("polya-gamma moments", polya_gamma_moments),
    ("student-t density", student_t_density),
    (
        "filter runs a stream, deterministically",
        filter_runs_deterministically,
    ),
    (
        "filter rejects bad input unchanged",
        filter_rejects_bad_input_unchanged,
    ),
    ("link answers the protocol", link_answers_the_protocol),
    ("link survives bad frames", link_survives_bad_frames),
    ("stack stays small", stack_stays_small),
];

#[entry]
fn main() -> ! {
    // SysTick for the log's timestamps; the UART is not used.
    let _uart = Selected::init();
    calibrate_ticks();
    let [a, b] = FILTERS.take();
    let mut ctx = Ctx { a, b };
    let mut failed = 0usize;
    for (name, check) in CHECKS {
        match check(&mut ctx) {
            Ok(()) => defmt::info!("check {=str} ... ok", name),
            Err(what) => {
                defmt::error!("check {=str} ... FAILED: {=str}", name, what);
                failed += 1;
            }
        }
    }
    defmt::info!(
        "self-test: {} passed, {} failed",
        CHECKS.len() - failed,
        failed
    );
    runtime::exit(if failed == 0 { 0 } else { 1 })
}

/// Logs how many SysTick ticks a known number of instructions takes: 40
/// under QEMU `-icount shift=0` (1 ns per instruction, 25 MHz SysTick),
/// the basis of "instructions = ticks × 40" in BENCHMARKS.md. On silicon
/// it shows cycles per loop iteration instead.
fn calibrate_ticks() {
    const ITERATIONS: u32 = 4_000_000;
    let start = Selected::ticks();
    // `delay(n)` runs n + 1 iterations of `subs; bne`: 2 instructions each.
    cortex_m::asm::delay(ITERATIONS - 1);
    let ticks = Selected::ticks() - start;
    defmt::info!(
        "calibration: {=u32} instructions in {=u64} ticks",
        2 * ITERATIONS,
        ticks
    );
}

/// `(function, input bits, output bits)` computed on x86_64 with the same
/// libm version. The firmware must compute the host's bits exactly: that
/// is what makes device telemetry bit-identical to `hsmoe fit --engine
/// core`. The subnormal cases fail if the FPU flushes to zero.
const LIBM_F32: &[Golden<f32, u32>] = &[
    ("expf", libm::expf, 0x3f80_0000, 0x402d_f854),
    ("expf", libm::expf, 0xbf00_0000, 0x3f1b_4598),
    ("expf", libm::expf, 0x4124_cccd, 0x46e8_4940),
    ("expf", libm::expf, 0xc2c8_0000, 0x0000_001b),
    ("expf", libm::expf, 0xc2af_0000, 0x006c_b2bc),
    ("logf", libm::logf, 0x4000_0000, 0x3f31_7218),
    ("logf", libm::logf, 0x3dcc_cccd, 0xc013_5d8e),
    ("logf", libm::logf, 0x42f6_e979, 0x409a_1bba),
    ("logf", libm::logf, 0x0001_16c2, 0xc2b8_34f2),
    ("log1pf", libm::log1pf, 0x3727_c5ac, 0x3727_c575),
    ("log1pf", libm::log1pf, 0x3f00_0000, 0x3ecf_991f),
    ("log1pf", libm::log1pf, 0xbf40_0000, 0xbfb1_7218),
    ("lgammaf", libm::lgammaf, 0x3f00_0000, 0x3f12_8682),
    ("lgammaf", libm::lgammaf, 0x4020_0000, 0x3e91_c1f4),
    ("lgammaf", libm::lgammaf, 0x40e8_0000, 0x40e1_ab81),
    ("lgammaf", libm::lgammaf, 0x41f0_0000, 0x428e_839b),
    ("sqrtf", libm::sqrtf, 0x4000_0000, 0x3fb5_04f3),
    ("sqrtf", libm::sqrtf, 0x3e99_999a, 0x3f0c_378c),
    ("sqrtf", libm::sqrtf, 0x0000_02ca, 0x1c97_27d2),
    ("tanhf", libm::tanhf, 0x3e80_0000, 0x3e7a_cbf5),
    ("tanhf", libm::tanhf, 0x4040_0000, 0x3f7e_bbe9),
    ("coshf", libm::coshf, 0x3e80_0000, 0x3f84_0558),
    ("coshf", libm::coshf, 0x40a0_0000, 0x4294_6b7f),
];

/// As [`LIBM_F32`] for the f64 functions the core uses (software
/// double precision on this FPU).
const LIBM_F64: &[Golden<f64, u64>] = &[
    (
        "lgamma",
        libm::lgamma,
        0x3fe0_0000_0000_0000,
        0x3fe2_50d0_48e7_a1bd,
    ),
    (
        "lgamma",
        libm::lgamma,
        0x4029_0000_0000_0000,
        0x4032_bbfe_32d3_aa80,
    ),
    (
        "log",
        libm::log,
        0x4008_0000_0000_0000,
        0x3ff1_93ea_7aad_030a,
    ),
    (
        "sqrt",
        libm::sqrt,
        0x4008_0000_0000_0000,
        0x3ffb_b67a_e858_4caa,
    ),
    (
        "cos",
        libm::cos,
        0x3fe6_6666_6666_6666,
        0x3fe8_7996_529f_9d93,
    ),
    (
        "sin",
        libm::sin,
        0x3fe6_6666_6666_6666,
        0x3fe4_9d6e_6946_19b8,
    ),
    (
        "atan",
        libm::atan,
        0x4000_0000_0000_0000,
        0x3ff1_b6e1_92eb_be44,
    ),
    (
        "tanh",
        libm::tanh,
        0x3fd9_9999_9999_999a,
        0x3fd8_5115_73c2_42d6,
    ),
    (
        "sinh",
        libm::sinh,
        0x3ff8_0000_0000_0000,
        0x4001_08c3_aabd_6a60,
    ),
    (
        "cosh",
        libm::cosh,
        0x3ff8_0000_0000_0000,
        0x4002_d1bc_21e2_2022,
    ),
];

fn libm_gives_the_host_bits(_: &mut Ctx) -> Check {
    let mut ok = true;
    for &(name, f, x, want) in LIBM_F32 {
        let got = f(f32::from_bits(x)).to_bits();
        if got != want {
            defmt::error!(
                "{=str}({=u32:#x}) = {=u32:#x}, host {=u32:#x}",
                name,
                x,
                got,
                want
            );
            ok = false;
        }
    }
    for &(name, f, x, want) in LIBM_F64 {
        let got = f(f64::from_bits(x)).to_bits();
        if got != want {
            defmt::error!(
                "{=str}({=u64:#x}) = {=u64:#x}, host {=u64:#x}",
                name,
                x,
                got,
                want
            );
            ok = false;
        }
    }
    let pow = libm::pow(2.5, 1.7).to_bits();
    ensure!(
        pow == 0x4012_fdcf_53f3_e6f3,
        "pow(2.5, 1.7) differs from the host"
    );
    ensure!(ok, "a libm value differs from the host's bits (see above)");
    Ok(())
}

/// `hsmoe_core::math::sqrt` is the FPU's `VSQRT` here and libm's
/// `sqrtf` on the host; both must be the correctly rounded root, or the
/// firmware's telemetry would drift from the host core's. Compared bit for
/// bit over every 8 191st non-negative f32 (zero, subnormals, normals,
/// infinity: about 260 000 values) and the edges.
fn vsqrt_gives_libm_bits(_: &mut Ctx) -> Check {
    let edges = [
        0u32,
        1,
        0x007f_ffff,
        0x0080_0000,
        0x3f80_0000,
        0x7f7f_ffff,
        0x7f80_0000,
    ];
    let sweep = (0..=0x7f80_0000u32).step_by(8191);
    for bits in edges.into_iter().chain(sweep) {
        let x = f32::from_bits(bits);
        let (hw, sw) = (hsmoe_core::math::sqrt(x), libm::sqrtf(x));
        if hw.to_bits() != sw.to_bits() {
            defmt::error!(
                "sqrt({=u32:#x}) = {=u32:#x}, libm {=u32:#x}",
                bits,
                hw.to_bits(),
                sw.to_bits()
            );
            return Err("VSQRT differs from libm's sqrtf");
        }
    }
    Ok(())
}

/// `A` (symmetric positive definite) as a lower triangle.
const A: [[f32; 4]; 4] = [
    [4.0, 0.0, 0.0, 0.0],
    [2.0, 5.0, 0.0, 0.0],
    [-1.0, 0.5, 3.0, 0.0],
    [0.5, 1.0, -0.25, 2.0],
];

/// `A[i][j]` from its lower triangle.
fn a(i: usize, j: usize) -> f32 {
    A[i.max(j)][i.min(j)]
}

fn cholesky_rank1_and_solves(_: &mut Ctx) -> Check {
    let mut l = Triangle::<4>::from_fn(a);
    ensure!(linalg::cholesky_in_place(&mut l).is_ok(), "A not factored");
    for i in 0..D {
        for j in 0..D {
            let llt: f32 = (0..=i.min(j)).map(|k| l[(i, k)] * l[(j, k)]).sum();
            ensure!((llt - a(i, j)).abs() < 1e-5, "L·Lᵀ differs from A");
        }
    }
    // Rank-1 update against refactoring A + x·xᵀ.
    let x = [0.5f32, -1.0, 0.25, 2.0];
    let mut updated = l;
    let mut scratch = x;
    ensure!(
        linalg::cholesky_rank1_update(&mut updated, &mut scratch).is_ok(),
        "rank-1 update failed"
    );
    let mut fresh = Triangle::<4>::from_fn(|i, j| a(i, j) + x[i] * x[j]);
    ensure!(
        linalg::cholesky_in_place(&mut fresh).is_ok(),
        "A + x·xᵀ not factored"
    );
    for i in 0..D {
        for j in 0..=i {
            ensure!(
                (updated[(i, j)] - fresh[(i, j)]).abs() < 1e-5,
                "rank-1 update differs"
            );
        }
    }
    // A·z = b through L and Lᵀ.
    let b = [1.0f32, 2.0, -3.0, 0.5];
    let mut z = b;
    linalg::solve_lower(&l, &mut z);
    linalg::solve_lower_transposed(&l, &mut z);
    for (i, bi) in b.iter().enumerate() {
        let az: f32 = (0..D).map(|j| a(i, j) * z[j]).sum();
        ensure!((az - bi).abs() < 1e-5, "A·z differs from b");
    }
    let mut singular = Triangle::<2>::from_fn(|i, j| [[1.0, 0.0], [2.0, 1.0]][i][j]);
    ensure!(
        linalg::cholesky_in_place(&mut singular) == Err(Error::NotPositiveDefinite),
        "indefinite matrix factored"
    );
    Ok(())
}

/// Draws for each moment check.
const DRAWS: usize = 20_000;

/// Sample mean and variance (Welford).
fn moments(mut draw: impl FnMut() -> f32) -> (f32, f32) {
    let (mut mean, mut m2) = (0.0f64, 0.0f64);
    for i in 1..=DRAWS {
        let x = f64::from(draw());
        let delta = x - mean;
        mean += delta / i as f64;
        m2 += delta * (x - mean);
    }
    (mean as f32, (m2 / (DRAWS - 1) as f64) as f32)
}

/// Standard error of the sample mean of `DRAWS` draws with variance `var`.
fn se(var: f32) -> f32 {
    libm::sqrtf(var / DRAWS as f32)
}

fn normal_moments(_: &mut Ctx) -> Check {
    let mut rng = XorShiftRng::seed_from_u64(11);
    let (mean, var) = moments(|| normal::standard_normal(&mut rng));
    // 5 standard errors: mean se = 1/√M; variance se = √(2/M).
    ensure!(mean.abs() < 5.0 * se(1.0), "N(0,1) mean off");
    ensure!((var - 1.0).abs() < 5.0 * se(2.0), "N(0,1) variance off");
    Ok(())
}

fn gamma_moments(_: &mut Ctx) -> Check {
    for (shape, scale) in [(0.7f32, 2.0f32), (3.0, 0.5)] {
        let mut rng = XorShiftRng::seed_from_u64(12);
        let (mean, var) = moments(|| gamma::gamma(&mut rng, shape, scale));
        let exact_var = shape * scale * scale;
        // 5 standard errors; the sample variance has variance
        // σ⁴(2 + 6/shape)/M (gamma excess kurtosis 6/shape).
        ensure!(
            (mean - shape * scale).abs() < 5.0 * se(exact_var),
            "gamma mean off"
        );
        let var_se = exact_var * se(2.0 + 6.0 / shape);
        ensure!((var - exact_var).abs() < 5.0 * var_se, "gamma variance off");
    }
    Ok(())
}

fn polya_gamma_moments(_: &mut Ctx) -> Check {
    for c in [0.0f32, 1.5, 5.0, 20.0] {
        let mut rng = XorShiftRng::seed_from_u64(13);
        let (mean, _) = moments(|| polya_gamma::sample(&mut rng, c));
        // 5 standard errors of the exact variance (docs/model.md §5).
        let tolerance = 5.0 * se(polya_gamma::variance(c));
        ensure!(
            (mean - polya_gamma::mean(c)).abs() < tolerance,
            "PG(1, c) mean off"
        );
    }
    Ok(())
}

fn student_t_density(_: &mut Ctx) -> Check {
    // t₁ at its centre is the Cauchy density 1/π.
    let cauchy = student_t::ln_pdf(0.0, 0.0, 1.0, 1.0, student_t::ln_normalizer(1.0));
    ensure!(
        (cauchy + libm::logf(core::f32::consts::PI)).abs() < 1e-6,
        "t₁(0) ≠ 1/π"
    );
    // Far out in the tail of t₁: ln(1/(π(1 + y²))).
    let y = 1.0e3f32;
    let tail = student_t::ln_pdf(y, 0.0, 1.0, 1.0, student_t::ln_normalizer(1.0));
    let exact = -libm::logf(core::f32::consts::PI) - libm::log1pf(y * y);
    ensure!((tail - exact).abs() < 1e-5, "t₁ tail off");
    Ok(())
}

/// A seeded piecewise-linear stream: `x = (1, u, v, w)` with standard
/// normal `u, v, w`, `y = 2u` if `u > 0`, else `−u + 0.5v`, plus noise.
struct Stream(XorShiftRng);

impl Stream {
    fn new(seed: u64) -> Self {
        Stream(XorShiftRng::seed_from_u64(seed))
    }

    fn next_row(&mut self) -> ([f32; 4], f32) {
        let mut n = || normal::standard_normal(&mut self.0);
        let x = [1.0, n(), n(), n()];
        let y = if x[1] > 0.0 {
            2.0 * x[1]
        } else {
            0.5 * x[2] - x[1]
        } + 0.3 * n();
        (x, y)
    }
}

/// Runs `steps` observations of `Stream::new(7)` on a filter reset with
/// `seed`; returns the log marginal.
fn run_stream(filter: &mut TestFilter, seed: u64, steps: usize) -> Result<f64, &'static str> {
    let mut rng = XorShiftRng::seed_from_u64(seed);
    ensure!(
        filter.reset(&Config::default_for(D), &mut rng).is_ok(),
        "reset failed"
    );
    let mut stream = Stream::new(7);
    for _ in 0..steps {
        let (x, y) = stream.next_row();
        let update = filter
            .observe(&x, y, &mut rng)
            .map_err(|_| "observe failed")?;
        ensure!(
            update.pred_mean.is_finite() && update.pred_var > 0.0,
            "bad predictive"
        );
        ensure!(update.log_pred.is_finite(), "log_pred not finite");
        ensure!(
            update.ess >= 1.0 && update.ess <= N as f32 * 1.0001,
            "ESS out of [1, N]"
        );
        let gate_sum: f32 = update.gate.iter().sum();
        ensure!((gate_sum - 1.0).abs() < 1e-5, "gate does not sum to 1");
    }
    Ok(filter.state().log_marginal())
}

fn filter_runs_deterministically(ctx: &mut Ctx) -> Check {
    let first = run_stream(ctx.a, 5, 150)?;
    let again = run_stream(ctx.b, 5, 150)?;
    ensure!(first.is_finite(), "log marginal not finite");
    ensure!(
        first.to_bits() == again.to_bits(),
        "same seed, different result"
    );
    // 150 rows with noise sd 0.3 fitted well: far above a N(0, 10) guess.
    ensure!(first > -300.0, "log marginal implausibly low");
    let p = ctx
        .a
        .predict(&[1.0, 1.0, 0.0, 0.0])
        .map_err(|_| "predict failed")?;
    ensure!(
        (p.mean - 2.0).abs() < 0.75,
        "prediction at u = 1 far from 2"
    );
    Ok(())
}

fn filter_rejects_bad_input_unchanged(ctx: &mut Ctx) -> Check {
    run_stream(ctx.a, 9, 40)?;
    run_stream(ctx.b, 9, 40)?;
    let mut rng_a = XorShiftRng::seed_from_u64(99);
    let mut rng_b = XorShiftRng::seed_from_u64(99);
    let x = [1.0, 0.3, -0.2, 0.9];
    let bad: [(&[f32], f32, Error); 4] = [
        (&[1.0, f32::NAN, 0.0, 0.0], 0.5, Error::NonFinite),
        (&x, f32::INFINITY, Error::NonFinite),
        (&x[..3], 0.5, Error::WrongLength),
        (&x, 1.0e30, Error::OutOfRange),
    ];
    for (bad_x, bad_y, error) in bad {
        ensure!(
            ctx.b.observe(bad_x, bad_y, &mut rng_b) == Err(error),
            "wrong error"
        );
    }
    let clean = ctx
        .a
        .observe(&x, 0.5, &mut rng_a)
        .map_err(|_| "observe failed")?;
    let after = ctx
        .b
        .observe(&x, 0.5, &mut rng_b)
        .map_err(|_| "observe failed")?;
    ensure!(clean == after, "a rejected input changed the next update");
    ensure!(
        rng_a.next_u64() == rng_b.next_u64(),
        "a rejected input used randomness"
    );
    Ok(())
}

/// No clock in the link checks: every `ticks` is 0, so answers compare
/// exactly.
fn no_clock() -> u64 {
    0
}

/// Feeds `bytes` to the link; returns the answers in order (at most 8).
fn feed(link: &mut Link<'_, N, K, D>, bytes: &[u8]) -> heapless::Vec<Response<K>, 8> {
    let mut answers = heapless::Vec::new();
    for &byte in bytes {
        if let Some(answer) = link.receive(byte) {
            // More than 8 answers is a failure the callers detect by count.
            let _ = answers.push(answer);
        }
    }
    answers
}

/// One request as a frame (empty if it cannot be encoded, which the
/// link then never answers, failing the check).
fn framed(request: &Request<D>) -> Bytes {
    let mut buf = [0u8; MAX_FRAME];
    match frame::encode(request, &mut buf) {
        Ok(bytes) => joined(&[bytes]),
        Err(_) => Bytes::new(),
    }
}

fn observe(seq: u32, t: usize) -> Request<D> {
    let mut stream = Stream::new(1000 + t as u64);
    let (x, y) = stream.next_row();
    Request::Observe(ObserveMsg {
        seq,
        x: FeatureVec::from(x),
        y,
    })
}

/// The single answer to `bytes`, or an error.
fn answer(link: &mut Link<'_, N, K, D>, bytes: &[u8]) -> Result<Response<K>, &'static str> {
    match feed(link, bytes).as_slice() {
        [one] => Ok(one.clone()),
        _ => Err("expected exactly one answer"),
    }
}

fn reject(seq: Option<u32>, reason: RejectReason) -> Response<K> {
    Response::Reject(RejectMsg { seq, reason })
}

fn link_answers_the_protocol(ctx: &mut Ctx) -> Check {
    let mut answers = AnswerCache::new();
    let mut link = Link::new(&mut *ctx.a, &mut answers, 0, no_clock);
    let config = answer(&mut link, &framed(&Request::Reset { seed: 77 }))?;
    ensure!(
        matches!(
            config,
            Response::Config(ConfigMsg {
                n: 32,
                k: 4,
                d: 4,
                seed: 77,
                version: PROTOCOL_VERSION,
                resample_ess: 1.0,
                ..
            })
        ),
        "Reset not answered with the Config"
    );
    ensure!(
        answer(&mut link, &framed(&Request::Hello))? == config,
        "Hello ≠ Config"
    );
    // The resampling threshold: out of [0, 1] refused, 0.5 taken and
    // reported, and `Reset` brings back the default.
    ensure!(
        answer(
            &mut link,
            &framed(&Request::Resampling { ess_fraction: 2.0 })
        )? == reject(None, RejectReason::Unsupported),
        "threshold 2 not refused"
    );
    ensure!(
        matches!(
            answer(&mut link, &framed(&Request::Resampling { ess_fraction: 0.5 }))?,
            Response::Config(ConfigMsg { resample_ess, .. }) if resample_ess == 0.5
        ),
        "threshold 0.5 not taken"
    );
    ensure!(
        answer(&mut link, &framed(&Request::Reset { seed: 77 }))? == config,
        "Reset did not restore the default threshold"
    );

    let first = answer(&mut link, &framed(&observe(10, 0)))?;
    ensure!(
        matches!(first, Response::Update(UpdateMsg { seq: 10, .. })),
        "no Update for seq 10"
    );
    let repeat = answer(&mut link, &framed(&observe(10, 0)))?;
    ensure!(repeat == first, "a repeat was not answered from the cache");
    let skipped = answer(&mut link, &framed(&observe(12, 2)))?;
    ensure!(
        skipped == reject(Some(12), RejectReason::OutOfOrder),
        "gap accepted"
    );
    let older = answer(&mut link, &framed(&observe(9, 2)))?;
    ensure!(
        older == reject(Some(9), RejectReason::OutOfOrder),
        "older seq accepted"
    );
    let next = answer(&mut link, &framed(&observe(11, 1)))?;
    ensure!(
        matches!(next, Response::Update(UpdateMsg { seq: 11, .. })),
        "no Update for seq 11"
    );

    let nan = Request::Observe(ObserveMsg {
        seq: 12,
        x: FeatureVec::from([1.0, f32::NAN, 0.0, 0.0]),
        y: 0.0,
    });
    let nan_answer = answer(&mut link, &framed(&nan))?;
    ensure!(
        nan_answer == reject(Some(12), RejectReason::NonFinite),
        "NaN not rejected"
    );
    let short = FeatureVec::from_slice(&[1.0, 2.0]).ok_or("short vector")?;
    let wrong = Request::Observe(ObserveMsg {
        seq: 13,
        x: short,
        y: 0.0,
    });
    let wrong_answer = answer(&mut link, &framed(&wrong))?;
    ensure!(
        wrong_answer == reject(Some(13), RejectReason::WrongLength),
        "short x accepted"
    );

    let predict = Request::Predict(PredictMsg {
        seq: 500,
        x: FeatureVec::from([1.0, 0.5, 0.0, 0.0]),
    });
    let prediction = answer(&mut link, &framed(&predict))?;
    let Response::Prediction(PredictionMsg {
        seq: 500,
        mean,
        var,
        gate,
    }) = prediction
    else {
        return Err("Predict not answered with a Prediction");
    };
    ensure!(
        mean.is_finite() && var > 0.0 && gate.len() == K,
        "bad Prediction"
    );
    ensure!(
        link.stats().updates == 2 && link.stats().repeats == 1,
        "wrong counts"
    );
    Ok(())
}

/// Each kind of damage, then the next valid observation: the damage gets
/// a `Reject` without a seq and the observation's answer equals that of a
/// link that never saw the damage.
fn link_survives_bad_frames(ctx: &mut Ctx) -> Check {
    let (mut clean_answers, mut hit_answers) = (AnswerCache::new(), AnswerCache::new());
    let mut clean = Link::new(&mut *ctx.a, &mut clean_answers, 31, no_clock);
    let mut hit = Link::new(&mut *ctx.b, &mut hit_answers, 31, no_clock);
    let good = framed(&observe(0, 0));
    let mut corrupt = good.clone();
    corrupt[3] ^= 0x40;
    let damage: [(Bytes, RejectReason); 4] = [
        (corrupt, RejectReason::Corrupt),
        (
            joined(&[&good[..good.len() / 2], &[0]]),
            RejectReason::Corrupt,
        ),
        (
            joined(&[&[0x13, 0x37, 0xff, 0x01, 0x02, 0x00]]),
            RejectReason::Corrupt,
        ),
        (
            joined(&[&[0x17; MAX_FRAME + 20], &[0]]),
            RejectReason::TooLong,
        ),
    ];
    for (t, (bytes, reason)) in damage.iter().enumerate() {
        ensure!(
            answer(&mut hit, bytes)? == reject(None, *reason),
            "damage not rejected"
        );
        let valid = framed(&observe(t as u32, t));
        ensure!(
            answer(&mut hit, &valid)? == answer(&mut clean, &valid)?,
            "answer changed"
        );
    }
    Ok(())
}

/// A byte string of up to two frames.
type Bytes = heapless::Vec<u8, { 2 * MAX_FRAME }>;

/// The parts, concatenated (truncated at the capacity, which the callers
/// stay below).
fn joined(parts: &[&[u8]]) -> Bytes {
    let mut out = Bytes::new();
    for part in parts {
        let _ = out.extend_from_slice(part);
    }
    out
}

fn stack_stays_small(_: &mut Ctx) -> Check {
    let used = stack::high_water_mark();
    defmt::info!("stack high-water mark after all checks: {} B", used);
    // The filter lives in statics; a few KiB of stack is the design.
    ensure!(used < 16 * 1024, "stack above 16 KiB");
    Ok(())
}
