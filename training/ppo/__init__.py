"""PPO as in InstructGPT, written here (TRL 1.13 removed its PPOTrainer): `ppo_config` is
the settings (and the command line), `rollout` samples replies, `core` is the arithmetic,
`ppo_trainer` the loop. Importing this package loads no model."""
