//! The training losses against PyTorch's autograd, and PPO's advantages against NumPy.
//!
//! `tests/fixtures/superhf_loss.json` comes from `tests/oracle/superhf_loss.py`: the same
//! logits, masks and targets (drawn by name with the shared SplitMix64 generator) through
//! PyTorch's `log_softmax`, `gather` and autograd in float32, and the advantage estimates in
//! float64. Tolerances are f32 rounding over a few dozen terms.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{assert_close, fixture};
use serde::Deserialize;
use superlab::rng::named_uniform;
use superlab::superhf::advantage::{generalised_advantages, token_rewards, whiten};
use superlab::superhf::loss::{
    PpoBatch, PpoClip, bradley_terry, ppo_loss, superhf_loss, token_log_probs,
};

const TOLERANCE: f64 = 1e-5;

#[derive(Deserialize)]
struct Fixture {
    seed: u64,
    sizes: Sizes,
    lengths: Vec<usize>,
    targets: Vec<Vec<i32>>,
    kl_coefficient: f64,
    superhf: SuperHf,
    ppo: Ppo,
    bradley_terry: BradleyTerry,
    advantages: Advantages,
}

#[derive(Deserialize)]
struct Sizes {
    batch: usize,
    positions: usize,
    vocab: usize,
}

#[derive(Deserialize)]
struct SuperHf {
    cross_entropy: f64,
    kl: f64,
    total: f64,
    gradient_logits_policy: Vec<f64>,
}

#[derive(Deserialize)]
struct Ppo {
    clip_ratio: f64,
    clip_value: f64,
    value_coefficient: f64,
    policy: f64,
    value: f64,
    total: f64,
    clip_fraction: f64,
    approximate_kl: f64,
    gradient_logits_policy: Vec<f64>,
    gradient_values_new: Vec<f64>,
}

#[derive(Deserialize)]
struct BradleyTerry {
    loss: f64,
    gradient_chosen: Vec<f64>,
    gradient_rejected: Vec<f64>,
}

#[derive(Deserialize)]
struct Advantages {
    gamma: f32,
    lambda: f32,
    kl_coefficient: f32,
    rows: Vec<AdvantageRow>,
    whitened: Vec<f64>,
}

#[derive(Deserialize)]
struct AdvantageRow {
    score: f32,
    rewards: Vec<f64>,
    advantages: Vec<f64>,
    returns: Vec<f64>,
}

/// The fixture's tensor `name`, as `named_uniform` draws it.
fn drawn<const D: usize>(f: &Fixture, name: &str, shape: [usize; D], scale: f32) -> Tensor<D> {
    let device = Device::flex().autodiff();
    let values = named_uniform(f.seed, name, shape.iter().product(), scale, 0.0);
    Tensor::from_data(TensorData::new(values, shape), &device)
}

fn targets(f: &Fixture) -> Tensor<2, Int> {
    let flat: Vec<i32> = f.targets.concat();
    let shape = [f.sizes.batch, f.sizes.positions];
    Tensor::from_data(TensorData::new(flat, shape), &Device::flex().autodiff())
}

fn mask(f: &Fixture) -> Tensor<2> {
    let positions = f.sizes.positions;
    let values: Vec<f32> = (f.lengths.iter())
        .flat_map(|&n| (0..positions).map(move |p| if p < n { 1.0 } else { 0.0 }))
        .collect();
    Tensor::from_data(
        TensorData::new(values, [f.sizes.batch, positions]),
        &Device::flex().autodiff(),
    )
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().unwrap()
}

fn scalar(tensor: Tensor<1>) -> f64 {
    f64::from(values(tensor)[0])
}

fn logits_shape(f: &Fixture) -> [usize; 3] {
    [f.sizes.batch, f.sizes.positions, f.sizes.vocab]
}

#[test]
fn superhf_loss_and_gradient_match_pytorch() {
    let f: Fixture = fixture("superhf_loss");
    let logits_policy = drawn(&f, "logits_policy", logits_shape(&f), 3.0).require_grad();
    let logits_reference = drawn(&f, "logits_reference", logits_shape(&f), 3.0);
    let loss = superhf_loss(
        logits_policy.clone(),
        logits_reference,
        targets(&f),
        mask(&f),
        f.kl_coefficient,
    );
    let gradients = loss.total.backward();
    let gradient = logits_policy.grad(&gradients).unwrap();
    let got = [loss.cross_entropy, loss.kl, loss.total].map(scalar);
    let want = [f.superhf.cross_entropy, f.superhf.kl, f.superhf.total];
    assert_close(
        "cross-entropy, KL, total",
        &got.map(|v| v as f32),
        &want,
        TOLERANCE,
        true,
    );
    assert_close(
        "gradient of the SuperHF loss w.r.t. the policy logits",
        &values(gradient),
        &f.superhf.gradient_logits_policy,
        TOLERANCE,
        true,
    );
}

#[test]
fn ppo_loss_and_gradients_match_pytorch() {
    let f: Fixture = fixture("superhf_loss");
    let shape = [f.sizes.batch, f.sizes.positions];
    let logits_policy = drawn(&f, "logits_policy", logits_shape(&f), 3.0).require_grad();
    let values_new = drawn(&f, "values_new", shape, 1.0).require_grad();
    let logp_new = token_log_probs(logits_policy.clone(), targets(&f));
    let batch = PpoBatch {
        logp_old: logp_new.clone().detach() + drawn(&f, "logp_shift", shape, 0.4),
        values_old: values_new.clone().detach() + drawn(&f, "value_shift", shape, 0.4),
        advantages: drawn(&f, "advantages", shape, 1.0),
        returns: drawn(&f, "returns", shape, 1.0),
        mask: mask(&f),
    };
    let clip = PpoClip {
        ratio: f.ppo.clip_ratio,
        value: f.ppo.clip_value,
        value_coefficient: f.ppo.value_coefficient,
    };
    let loss = ppo_loss(logp_new, values_new.clone(), &batch, clip);
    let gradients = loss.total.backward();
    let got = [
        loss.policy,
        loss.value,
        loss.total,
        loss.clip_fraction,
        loss.approximate_kl,
    ]
    .map(|t| scalar(t) as f32);
    let p = &f.ppo;
    let want = [
        p.policy,
        p.value,
        p.total,
        p.clip_fraction,
        p.approximate_kl,
    ];
    assert_close(
        "PPO policy, value, total, clip fraction, KL",
        &got,
        &want,
        TOLERANCE,
        true,
    );
    assert!(
        p.clip_fraction > 0.0 && p.clip_fraction < 1.0,
        "the fixture must clip some positions and not others"
    );
    assert_close(
        "gradient w.r.t. the policy logits",
        &values(logits_policy.grad(&gradients).unwrap()),
        &p.gradient_logits_policy,
        TOLERANCE,
        true,
    );
    assert_close(
        "gradient w.r.t. the values",
        &values(values_new.grad(&gradients).unwrap()),
        &p.gradient_values_new,
        TOLERANCE,
        true,
    );
}

#[test]
fn bradley_terry_matches_pytorch() {
    let f: Fixture = fixture("superhf_loss");
    let chosen = drawn(&f, "rewards_chosen", [5], 2.0).require_grad();
    let rejected = drawn(&f, "rewards_rejected", [5], 2.0).require_grad();
    let loss = bradley_terry(chosen.clone(), rejected.clone());
    let gradients = loss.backward();
    let got = scalar(loss) as f32;
    assert_close(
        "Bradley-Terry loss",
        &[got],
        &[f.bradley_terry.loss],
        TOLERANCE,
        true,
    );
    let chosen_gradient = values(chosen.grad(&gradients).unwrap());
    let rejected_gradient = values(rejected.grad(&gradients).unwrap());
    let bt = &f.bradley_terry;
    assert_close(
        "gradient, chosen",
        &chosen_gradient,
        &bt.gradient_chosen,
        TOLERANCE,
        true,
    );
    assert_close(
        "gradient, rejected",
        &rejected_gradient,
        &bt.gradient_rejected,
        TOLERANCE,
        true,
    );
}

#[test]
fn advantages_and_whitening_match_numpy() {
    let f: Fixture = fixture("superhf_loss");
    let a = &f.advantages;
    let mut all_advantages = Vec::new();
    for (i, (row, &length)) in a.rows.iter().zip(&f.lengths).enumerate() {
        let draw = |name: &str| named_uniform(f.seed, &format!("{name}_{i}"), length, 1.0, 0.0);
        let (logp_policy, logp_reference) = (draw("gae_logp_policy"), draw("gae_logp_ref"));
        let values = draw("gae_values");
        let score = named_uniform(f.seed, &format!("gae_score_{i}"), 1, 2.0, 0.0)[0];
        assert_eq!(score, row.score);
        let rewards = token_rewards(score, &logp_policy, &logp_reference, a.kl_coefficient);
        assert_close(
            &format!("rewards of row {i}"),
            &rewards,
            &row.rewards,
            TOLERANCE,
            true,
        );
        let (advantages, returns) = generalised_advantages(&rewards, &values, a.gamma, a.lambda);
        let what = format!("advantages of row {i}");
        assert_close(&what, &advantages, &row.advantages, TOLERANCE, true);
        assert_close(
            &format!("returns of row {i}"),
            &returns,
            &row.returns,
            TOLERANCE,
            true,
        );
        all_advantages.push(advantages);
    }
    whiten(&mut all_advantages, false);
    let flat: Vec<f32> = all_advantages.concat();
    assert_close("whitened advantages", &flat, &a.whitened, TOLERANCE, false);
    // A constant input stays finite.
    let mut constant = vec![vec![0.5; 4]];
    whiten(&mut constant, false);
    assert!(constant[0].iter().all(|v| v.is_finite() && v.abs() < 1e-3));
}
