"""A tiny random Llama with a real tokenizer and chat template, made in a second.

Tests, benchmarks and smoke tests use it where the default model would only add time:
it exercises the same loading, templating and generation code as a real model.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "hello there, how are you today? I am fine, thank you.",
    "what is the capital of France? Paris is the capital of France.",
    "the quick brown fox jumps over the lazy dog 0123456789",
]


def make_tiny_model(
    out: Path,
    seed: int = 0,
    layers: int = 2,
    hidden: int = 32,
    init_std: float = 0.02,
    endless: bool = False,
) -> Path:
    """Write a tokenizer (byte-level BPE, 400 tokens) and a random Llama into `out`.

    At the usual init_std the model's greedy choice is mostly its last input token again;
    init_std=0.5 gives varied replies, for tests that compare token sequences.
    `endless`: the end-of-sequence token's embedding is zero, and with it (tied
    embeddings) its logit, which greedy decoding never prefers to the best of 399 random
    ones: at temperature 0 every reply runs to max_new_tokens (tests of replies that take
    a while, such as streamed ones).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 10, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=init_std,
    )
    out.mkdir(parents=True, exist_ok=True)
    model = LlamaForCausalLM(config)
    if endless:
        embeddings = model.get_input_embeddings()
        assert isinstance(embeddings, torch.nn.Embedding)
        with torch.no_grad():
            embeddings.weight[tokenizer.eos_token_id].zero_()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
