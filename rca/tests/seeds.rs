//! The accuracy floor over fresh generator seeds: seeds drawn at random each
//! run (proptest prints the failing set), every fault kind, top-1 at least 0.9.

use graph::EngineConfig;
use proptest::prelude::*;
use rca::generate::{generate, FaultKindName, GenerateOptions};

fn accuracy(seeds: &[u64]) -> (f64, Vec<String>) {
    let mut hits = 0;
    let mut misses = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let fault = FaultKindName::ALL[i % FaultKindName::ALL.len()];
        let dir = tempfile::tempdir().unwrap();
        let summary = generate(&GenerateOptions::new(*seed, fault), dir.path()).unwrap();
        let loc = rca::cmd::localise_fixture(dir.path(), &EngineConfig::default()).unwrap();
        let top = loc
            .ranking
            .first()
            .map(|c| c.component.clone())
            .unwrap_or_default();
        if top == summary.target {
            hits += 1;
        } else {
            misses.push(format!(
                "seed {seed} {fault}: top {top}, truth {}",
                summary.target
            ));
        }
    }
    (hits as f64 / seeds.len() as f64, misses)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2, ..ProptestConfig::default() })]
    #[test]
    fn top1_is_at_least_ninety_percent_over_fresh_seeds(seeds in proptest::collection::vec(0u64..1_000_000_000, 24)) {
        let (ac1, misses) = accuracy(&seeds);
        prop_assert!(ac1 >= 0.9, "AC@1 {ac1} over {} seeds: {misses:#?}", seeds.len());
    }
}
