"""The system under faults: real adapters against fake platform servers, real gpu and io
workers, a Redis and (for the database scenario) a PostgreSQL of the harness's own, with
workers, Redis and PostgreSQL killed or restarted while people talk and vote.

Run: .venv/bin/python -m bench.faults [scenario ...] [--list] [--messages N] [--wait S]

Per scenario: messages sent, stored, replied, duplicated (answered more than once on the
platform), lost (stored or taken with a 2xx, never answered within --wait seconds after
the fault ended), votes lost (cast on a reply, absent from the votes table at the end), and
the time from the fault's end until the last message is answered. Every setting is the
default but the broker and database URLs and the tiny model (workers/tiny_model.py).
"""
