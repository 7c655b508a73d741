//! Choosing K on the motorcycle data (standardized, default host fit,
//! N = 1000): the parsimonious rule of `hsmoe choose-k` (docs/model.md §8)
//! gives the same K on five seeds, although the arg-max of the log
//! marginal does not (the evidence is flat over K = 4–6).

use hsmoe_host::choose::{choose_k, MIN_MARGIN_NATS};
use hsmoe_host::engine::EngineKind;
use hsmoe_host::fit::FitOptions;
use hsmoe_host::moves::MoveOptions;
use hsmoe_tests::fit::mcycle;

#[test]
fn the_same_k_is_chosen_on_five_seeds() {
    let data = mcycle();
    let choices: Vec<_> = (1..=5)
        .map(|seed| {
            let mut base = FitOptions::new(EngineKind::Core, 6, 1000, seed, &data);
            base.moves = Some(MoveOptions::DEFAULT);
            let choice = choose_k(&data, &base, 6, 1).unwrap();
            eprintln!("seed {seed}:\n{}", choice.table());
            choice
        })
        .collect();
    let chosen: Vec<usize> = choices.iter().map(|c| c.chosen_k).collect();
    // Not a tautology of the margin: with one nat of slack the rule still
    // must reject K ≤ 3 (≥ 7 nats below K = 4 when measured) and must not
    // fall back to a smaller K on a seed whose K = 4 run is unlucky (its
    // seed-to-seed sd at N = 1000 is ≈ 0.1–0.5 nat, measured margins of
    // K = 4 to the best: 0.36, 0.07, 0.30, 0.53, 0.56).
    assert!(
        chosen.iter().all(|&k| k == chosen[0]),
        "K chosen per seed: {chosen:?}"
    );
    for c in &choices {
        let at = |k: usize| c.candidates[k - 1].mean;
        assert!(
            at(c.chosen_k) > at(c.chosen_k - 1) + MIN_MARGIN_NATS,
            "K = {} must beat K = {} by more than the margin",
            c.chosen_k,
            c.chosen_k - 1
        );
    }
}
