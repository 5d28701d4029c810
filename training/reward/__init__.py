"""The reward model: a sequence classifier with one output, initialised from the policy,
trained on preference pairs (TRL's RewardTrainer) and on unpaired 👍/👎 votes (pointwise)."""
