"""Training: SFT, the reward model, PPO and KTO, evaluation. Importing loads nothing."""
