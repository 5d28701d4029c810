"""bench/generation: the engine (continuous batching) against plain `model.generate`, one
request at a time, on the same prompts, with 1, 4, 16 and 64 concurrent chats.

Each chat sends `--turns` messages, the next when the reply to the one before is in; both
servers see the same arrivals. Printed side by side, from one run: aggregate new tokens a
second, time to first token (median, from the message's arrival), a chat's own tokens a
second (over the time it waited), and how many replies came out the same (greedy both).
Then batch-1 decoding against the memory-bandwidth limit (each step reads every weight).

Plain `generate` serves one request at a time, so its aggregate tokens a second do not
depend on how many chats wait (its time to first token does): `--plain-chats N` serves only
the first N chats' messages through it where more chats run, and its TTFT is then left out.

Targets on 2 CPU cores with the default model: >= 6x aggregate at 16 chats, first token
under 0.5 s at 1 chat. On a GPU (bf16, issue 23): >= 25x at 64 chats, batch-1 decode
>= 40% of the bandwidth limit.

Run: .venv/bin/python -m bench.generation
     [--model default|qwen2-0.5b|smollm2-135m-random|FOLDER] [--chats 1,4,16,64]
     [--turns 2] [--new-tokens 48] [--device cuda] [--plain-chats N] [--out FILE.json]
     [--tokenizer FOLDER --prompts FILE]  (written by bench.generation.offline)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from bench.generation import plain, served
from bench.generation.chats import Timing, prompts, summarise
from bench.generation.hardware import CHOICES, bandwidth, engine_for, weight_bytes
from core.types import ChatMessage
from workers.engine import Engine

BATCH1_MESSAGES = 4  # one chat's messages for the batch-1 decode figure


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generation")
    parser.add_argument("--model", default="default", help=f"{', '.join(CHOICES)} or a folder")
    parser.add_argument("--chats", default="1,4,16,64")
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, else float32")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all)")
    parser.add_argument(
        "--natural",
        action="store_true",
        help="replies end where the model ends them (default: exactly --new-tokens each, "
        "the end token held back in both servers, so both make the same work)",
    )
    parser.add_argument(
        "--plain-chats",
        type=int,
        default=0,
        help="plain generate serves at most this many chats (0: all of them)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--tokenizer", type=Path, default=None, help="tokenizer folder for a random model"
    )
    parser.add_argument("--prompts", type=Path, default=None, help="prompts JSON file")
    args = parser.parse_args()
    dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    counts = [int(c) for c in args.chats.split(",")]
    fixed = not args.natural
    engine = engine_for(args.model, args.device, dtype, args.threads, args.tokenizer)
    every = prompts(max(max(counts) * args.turns, BATCH1_MESSAGES), args.prompts)
    say(f"model {engine.version} on {args.device} ({dtype}), {args.new_tokens} new tokens")
    plain.serve(engine, every, 1, 1, 4)  # warm both up: first calls pay one-off costs
    served.serve(engine, every, 1, 1, 4, args.max_batch)
    rows = []
    for chats in counts:
        sampled = min(chats, args.plain_chats) if args.plain_chats > 0 else chats
        say(f"{chats} chats: plain generate, one request at a time ({sampled} of them)...")
        before = plain.serve(engine, every, sampled, args.turns, args.new_tokens, fixed)
        say(f"{chats} chats: the engine...")
        after, padding = served.serve(
            engine, every, chats, args.turns, args.new_tokens, args.max_batch, fixed
        )
        rows.append(row(chats, sampled, before, after, padding))
        say(table_line(rows[-1]))
    decode = batch1_decode(engine, every, args.new_tokens, args.max_batch)
    report = {
        "model": engine.version,
        "device": args.device,
        "device_name": device_name(args.device),
        "dtype": dtype,
        "new_tokens": args.new_tokens,
        "turns": args.turns,
        "lengths": "natural" if args.natural else "fixed",
        "max_batch": args.max_batch,
        "rows": rows,
        "batch1_decode": decode,
    }
    print(markdown(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


def row(
    chats: int, sampled: int, before: list[Timing], after: list[Timing], padding: float
) -> dict[str, object]:
    """The figures of one chat count; plain generate served the first `sampled` chats."""
    plain_s, engine_s = summarise(before), summarise(after)
    both = sorted((t for t in after if t.chat < sampled), key=_key)
    same = sum(
        b.token_ids == a.token_ids for b, a in zip(sorted(before, key=_key), both, strict=True)
    )
    return {
        "chats": chats,
        "plain_chats": sampled,
        "plain": asdict(plain_s),
        "engine": asdict(engine_s),
        "speedup": engine_s.aggregate_tps / plain_s.aggregate_tps,
        "same_replies": f"{same}/{len(before)}",
        "padding_share": padding,
    }


def _key(timing: Timing) -> tuple[int, float]:
    return (timing.chat, timing.arrived)  # a chat's messages arrive in the same order in both


def batch1_decode(
    engine: Engine, every: list[list[ChatMessage]], new_tokens: int, max_batch: int
) -> dict[str, float]:
    """One chat alone: decode tokens a second (after the first token) against the limit
    that reading every weight once a step sets."""
    timings, _ = served.serve(engine, every, 1, BATCH1_MESSAGES, max(new_tokens, 64), max_batch)
    rates = [(t.new_tokens - 1) / (t.done - t.first_token) for t in timings if t.new_tokens > 8]
    tps = sorted(rates)[len(rates) // 2] if rates else 0.0
    moved = bandwidth(engine.device)
    weights = weight_bytes(engine)
    limit = moved / weights
    return {
        "decode_tps": tps,
        "weight_bytes": weights,
        "bandwidth_gb_s": moved / 1e9,
        "limit_tps": limit,
        "share_of_limit": tps / limit,
    }


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    import platform

    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def table_line(r: dict[str, object]) -> str:
    p, e = r["plain"], r["engine"]
    assert isinstance(p, dict) and isinstance(e, dict)
    sampled = r.get("plain_chats", r["chats"])
    chats = f"{r['chats']}" if sampled == r["chats"] else f"{r['chats']} (plain: {sampled})"
    # Plain TTFT grows with the chats waiting: on a sample of them it is not comparable.
    plain_ttft = f"{p['ttft_median_s']:.3f}" if sampled == r["chats"] else "-"
    return (
        f"| {chats} | {p['aggregate_tps']:.1f} | {e['aggregate_tps']:.1f} | "
        f"**{r['speedup']:.2f}x** | {plain_ttft} | {e['ttft_median_s']:.3f} | "
        f"{p['per_chat_tps']:.1f} | {e['per_chat_tps']:.1f} | {r['same_replies']} | "
        f"{float(r['padding_share']):.1%} |"  # type: ignore[arg-type]
    )


def markdown(report: dict[str, object]) -> str:
    rows = report["rows"]
    assert isinstance(rows, list)
    d = report["batch1_decode"]
    assert isinstance(d, dict)
    head = (
        f"model {report['model']}, {report['device_name']} ({report['dtype']}), "
        f"{report['new_tokens']} new tokens ({report['lengths']} length), "
        f"{report['turns']} messages a chat, greedy, at most {report.get('max_batch')} "
        "rows a batch\n\n"
        "| chats | plain tok/s | engine tok/s | ratio | plain TTFT s | engine TTFT s | "
        "plain per-chat tok/s | engine per-chat tok/s | same replies | padding |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "\n".join(table_line(r) for r in rows)
    tail = (
        f"\n\nbatch-1 decode: {d['decode_tps']:.1f} tok/s; "
        f"weights {d['weight_bytes'] / 1e6:.0f} MB, "
        f"bandwidth {d['bandwidth_gb_s']:.1f} GB/s -> limit {d['limit_tps']:.1f} tok/s; "
        f"**{d['share_of_limit']:.0%} of the limit**"
    )
    return head + body + tail


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
