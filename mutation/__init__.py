"""Mutation testing of the modules that hold the product's rules (`make mutation`; README, "Mutation
testing"): mutmut changes their code one small edit at a time and runs the tests that cover it;
a test suite that notices nearly every edit states each rule at its edge."""
