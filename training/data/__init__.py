"""Training data: chitchat conversations and the reply loop's export files, as TRL's
conversational rows (prompt-completion, preference pairs, unpaired votes)."""
