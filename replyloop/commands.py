"""What each `replyloop` subcommand does, once its arguments are parsed."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from slack_sdk.errors import SlackApiError

from bots.slack.settings import SlackSettings
from bots.telegram.settings import TelegramSettings
from bots.wecom.settings import WeComSettings
from core.settings import Settings
from core.store import Store
from core.urls import mask_url
from replyloop import forget_command, model_commands, train_commands, web_command
from replyloop.bootstrap import bootstrap, embedded, gpu_tasks, io_tasks, serve_metrics
from replyloop.rater_secret import rater_secret
from replyloop.settings import AllSettings


class UsageError(Exception):
    """Arguments that parse but make no sense; said in one line."""


def dispatch(args: argparse.Namespace, settings: AllSettings) -> int:
    if args.command == "chat":
        return chat(settings)
    if args.command == "worker":
        return worker(settings, args.queue, args.concurrency, args.pool, args.loglevel)
    if args.command == "feedback" and args.feedback_command == "stats":
        return stats(settings)
    if args.command == "feedback":
        return export(settings, args.format, Path(args.out), args.since, args.model_version)
    if args.command == "model":
        return model_commands.run(settings, args)
    if args.command == "forget":
        return forget_command.run(settings, args)
    if args.command == "train":
        return train_commands.train(settings, args)
    if args.command == "eval":
        return train_commands.evaluate(settings, args)
    if args.command == "user":
        return web_command.run_user(settings, args)
    if args.command == "serve":
        return serve(settings, args)
    if args.command == "config":
        print(json.dumps(settings.masked(), indent=2, default=str))
        return 0
    return db(settings, args.action)


def serve(settings: AllSettings, args: argparse.Namespace) -> int:
    """`replyloop serve PLATFORM`: an adapter, or the web console."""
    if args.platform == "web":
        return web_command.serve_web(settings, args.host, args.port or web_command.DEFAULT_PORT)
    port = args.port or 3000
    if args.platform == "wecom":
        return serve_wecom(settings, args.host, port)
    if args.platform == "telegram":
        return serve_telegram(settings, args.webhook, args.host, port)
    return serve_slack(settings, args.http, args.host, port)


def chat(settings: Settings) -> int:
    from bots.outbox import outbox
    from bots.terminal.chat import TerminalChat, run

    context = bootstrap(settings)
    gpu = embedded(context)
    if gpu is not None:
        gpu.engine  # noqa: B018 - convert/load the model before the first prompt
        log_tasks_to_file(settings.data_dir / "chat.log")
    replies = gpu.replies if gpu else None  # Ctrl-C stops a reply made here
    live = gpu.live_texts if gpu else context.live
    box = outbox(settings.broker_url)
    run(TerminalChat(settings, context.store, box, live=live, replies=replies))
    return 0


def worker(
    settings: Settings, queue: str, concurrency: int | None, pool: str | None, loglevel: str
) -> int:
    if settings.embedded:
        raise UsageError(
            "a worker needs a broker: set REPLYLOOP_BROKER_URL=redis://host:6379/0 "
            "(without one, `replyloop chat` runs everything in one process)"
        )
    context = bootstrap(settings, log_level=logging.INFO)
    from wire.app import app

    if queue == "gpu":
        gpu = gpu_tasks(context)
        # Threads: one model, and every message taken joins the running batch at its next
        # step (workers.strategy hands them to it; the threads run only retried or failed
        # ones). The worker holds twice max_batch messages: the next ones are at hand the
        # moment a row is done.
        # (Prefork: each child loads the model once in worker_process_init; one by default.)
        pool = pool or "threads"
        count = concurrency or (1 if pool == "prefork" else 2 * settings.max_batch)
        if pool != "prefork":
            gpu.engine  # noqa: B018 - no child processes: the model lives in this one
            from wire import metrics

            scheduler = gpu.replies.scheduler
            metrics.watch_scheduler(scheduler.running_rows, scheduler.kv_use)
        else:  # the children load it; refuse a model they cannot use before forking them
            from workers.models import check_tokenizer, resolve

            check_tokenizer(resolve(settings.model, settings.cache_dir))
        serve_metrics(settings)
    else:
        io_tasks()
        pool, count = pool or "threads", concurrency or 8
        # Messages whose tasks were lost are asked for again (one io worker a round).
        from bots.sweeper import start_sweeping
        from wire.queues import GPU_QUEUE, IO_QUEUE

        start_sweeping(settings, context.store)
        serve_metrics(settings, (GPU_QUEUE, IO_QUEUE))
    if logging.getLevelName(loglevel.upper()) != logging.DEBUG:
        quiet_task_logs()
    app.worker_main(
        [
            "worker",
            "-Q",
            queue,
            "-P",
            pool,
            "-c",
            str(count),
            "-n",
            f"{queue}@%h",
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


def serve_slack(settings: SlackSettings, http: bool, host: str, port: int) -> int:
    """The Slack adapter: Socket Mode when SLACK_APP_TOKEN is set (unless --http), else the
    HTTP Events API."""
    if settings.slack_bot_token is None:
        raise UsageError("set SLACK_BOT_TOKEN (xoxb-...), the bot token of your Slack app")
    socket_mode = settings.slack_app_token is not None and not http
    if not socket_mode and settings.slack_signing_secret is None:
        raise UsageError(
            "set SLACK_SIGNING_SECRET for the HTTP Events API (or SLACK_APP_TOKEN for "
            "Socket Mode, which needs no public URL)"
        )
    rt = bootstrap(settings, log_level=logging.INFO)
    serve_metrics(settings)
    embedded(rt)
    from bots.slack import serve, stream
    from bots.streaming.streamer import running

    streamer = stream.streamer_for(settings)
    try:
        bolt = serve.app_for(settings, rt.store, streamer)
    except SlackApiError as exc:
        refused = exc.response.get("error")
        raise UsageError(f"Slack refused SLACK_BOT_TOKEN (auth.test: {refused})") from None
    except OSError as exc:
        raise UsageError(f"cannot reach the Slack API at {settings.slack_api_url}: {exc}") from None
    with running(streamer):
        if socket_mode and settings.slack_app_token is not None:
            serve.serve_socket_mode(bolt, settings.slack_app_token.get_secret_value())
        else:
            serve.serve_http(bolt, host, port)
    return 0


def serve_telegram(settings: TelegramSettings, webhook: str | None, host: str, port: int) -> int:
    """The Telegram adapter: python-telegram-bot, long polling, or a webhook at `webhook`
    served on host:port."""
    if settings.telegram_bot_token is None:
        raise UsageError("set TELEGRAM_BOT_TOKEN, the token @BotFather gave your bot")
    from bots.telegram.bot_token import token_problem

    problem = token_problem(settings.telegram_bot_token.get_secret_value())
    if problem is not None:
        raise UsageError(problem)
    secret = settings.telegram_webhook_secret
    if webhook is not None and secret is None:
        raise UsageError(
            "set TELEGRAM_WEBHOOK_SECRET for --webhook: Telegram sends it with every update, "
            "and requests without it are refused"
        )
    from bots.telegram.webhook import check_webhook

    try:
        if webhook is not None and secret is not None:
            check_webhook(webhook, secret.get_secret_value())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    rt = bootstrap(settings, log_level=logging.INFO)
    serve_metrics(settings)
    embedded(rt)
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from bots.streaming.streamer import running
    from bots.telegram import serve, stream

    streamer = stream.streamer_for(settings)
    try:
        application = serve.build(settings, rt.store, streamer)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        with running(streamer):
            if webhook is not None and secret is not None:
                serve.serve_webhook(application, webhook, secret.get_secret_value(), host, port)
            else:
                serve.serve_polling(application)
    except InvalidToken:
        # Its message quotes the token: say it without.
        raise UsageError("Telegram refused the bot token (TELEGRAM_BOT_TOKEN)") from None
    except NetworkError as exc:
        raise UsageError(
            f"cannot reach the Telegram Bot API at {mask_url(settings.telegram_api_url)}: "
            f"{type(exc).__name__}"
        ) from None
    except TelegramError as exc:  # setWebhook refused (a URL Telegram cannot use)
        raise UsageError(f"Telegram refused: {exc.message}") from None
    return 0


def serve_wecom(settings: WeComSettings, host: str, port: int) -> int:
    """The WeCom adapter: the self-built app's and the smart bot's callback server."""
    app_settings = (
        ("WECOM_CORP_ID", settings.wecom_corp_id),
        ("WECOM_SECRET", settings.wecom_secret),
        ("WECOM_TOKEN", settings.wecom_token),
        ("WECOM_AES_KEY", settings.wecom_aes_key),
    )
    bot_settings = (
        ("WECOM_BOT_TOKEN", settings.wecom_bot_token),
        ("WECOM_BOT_AES_KEY", settings.wecom_bot_aes_key),
    )
    groups = {"self-built app": app_settings, "smart bot": bot_settings}
    # WECOM_CORP_ID alone says nothing: the smart bot's votes use it too.
    wanted = [
        what
        for what, group in groups.items()
        if any(value for name, value in group if name != "WECOM_CORP_ID")
    ]
    if not wanted:
        raise UsageError(
            "set the self-built app's settings (WECOM_CORP_ID, WECOM_SECRET, WECOM_TOKEN, "
            "WECOM_AES_KEY), the smart bot's (WECOM_BOT_TOKEN, WECOM_BOT_AES_KEY), or both"
        )
    for what in wanted:
        missing = [name for name, value in groups[what] if not value]
        if missing:
            raise UsageError(f"set {', '.join(missing)} (the {what}'s settings in WeCom)")
    if "smart bot" in wanted and not settings.broker_url:
        raise UsageError("the smart bot streams replies through Redis: set REPLYLOOP_BROKER_URL")
    rt = bootstrap(settings, log_level=logging.INFO)
    serve_metrics(settings)
    embedded(rt)
    from bots.wecom import callback

    callback.serve_http(settings, rt.store, host, port)
    return 0


def log_tasks_to_file(path: Path) -> None:
    """The embedded chat runs the tasks itself: their errors (with tracebacks) go to a
    file, not between the person's lines; the chat says that a reply failed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    # The tasks' loggers: the gpu side's, and the io side's this chat runs.
    for name in ("celery", "workers", "bots.intake", "bots.votes", "bots.terminal.delivery"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False


def quiet_task_logs() -> None:
    """Drop Celery's two INFO lines a task ("received", "succeeded"): on a busy worker they
    cost about a tenth of its time. Retries and failures are still logged; --loglevel
    DEBUG keeps everything."""
    from celery.app.trace import LOG_SUCCESS

    logging.getLogger("celery.worker.strategy").setLevel(logging.WARNING)
    logging.getLogger("celery.app.trace").addFilter(lambda record: record.msg != LOG_SUCCESS)


def stats(settings: Settings) -> int:
    from core.store.reports import feedback_stats

    rows = feedback_stats(bootstrap(settings).store.engine)
    print(f"{'model version':40} {'turns':>8} {'👍':>7} {'👎':>7} {'approval':>9}")
    for row in rows:
        approval = f"{row.approval:.1%}" if row.approval is not None else "-"
        print(f"{row.model_version:40} {row.turns:8} {row.up:7} {row.down:7} {approval:>9}")
    if not rows:
        print("(no replies stored yet)")
    return 0


def export(
    settings: Settings, fmt: str, out: Path, since: str | None, model_version: str | None
) -> int:
    from tqdm import tqdm

    from core.export import ExportFilter, count_rated
    from core.export import export as write_export

    where = ExportFilter(_date(since), model_version)
    store = bootstrap(settings).store
    engine = store.engine
    if model_version is not None:
        _check_known(store, model_version)
    secret = rater_secret(settings)
    total = count_rated(engine, where)
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        out.open("w", encoding="utf-8") as handle,
        tqdm(
            total=total, unit="reply", desc=f"export {fmt}", file=sys.stderr, disable=total < 1000
        ) as bar,
    ):
        written = write_export(engine, fmt, handle, secret, where, progress=bar.update)
    print(f"wrote {written} {fmt} rows from {total} rated replies to {out}", file=sys.stderr)
    return 0


# At most this many known versions are named when --model-version names none of them.
NAMED_VERSIONS = 8


def _check_known(store: Store, version: str) -> None:
    """A version is known if a model of it is registered or any reply was made by it (the
    built-in model serves without being registered); an unknown one would export nothing."""
    from core.store import registry
    from core.store.reports import feedback_stats

    if registry.find(store, version) is not None or feedback_stats(store.engine, version):
        return
    known = sorted(
        {row.model_version for row in feedback_stats(store.engine)}
        | {record.version for record in registry.list_models(store)}
    )
    if not known:
        hint = "none is yet: no replies are stored and no model is registered"
    elif len(known) <= NAMED_VERSIONS:
        hint = f"known: {', '.join(known)}"
    else:
        hint = "`replyloop feedback stats` and `replyloop model list` show the known ones"
    raise UsageError(
        f"--model-version {version!r} is unknown: no reply was made by it and no model of "
        f"that version is registered ({hint})"
    )


def db(settings: Settings, action: str) -> int:
    from core.store.migrate import current_revision

    rt = bootstrap(settings)  # opening upgrades to the newest revision
    print(f"schema at revision {current_revision(rt.store.engine)}")
    return 0


def _date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r} is not a date like 2026-11-22") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
